"""Gunicorn settings shared by every sample service.

Started as `python -m gunicorn -c gunicorn.conf.py '<service>:create_app()'`
from this folder, with the environment saying where to listen:

- PORT (required): the port to bind;
- HOST (default 127.0.0.1; the images set 0.0.0.0);
- THREADS (default 8): request threads of each worker;
- WORKERS (default 4): worker processes, as the seed runs it (`gunicorn -w 4`).

Four workers share no memory (benoitc/gunicorn#2216): each has its own
copy of every breaker unless the breakers keep their state in Redis
(SHOP_BREAKER_STORAGE=redis, see shopkit/breaker_store.py). The chaos agent
reports every worker (its breaker endpoint lists each worker's view) and
tags each transition with its worker's pid.

`preload_app`: the master builds the app once and forks the workers, so
sixteen workers (four services) boot on two cores without each importing
Flask and building its app (`chaos up` took 15-17 s without it; figures in
the README). What must not be copied mid-use is handled where it lives:
the agent's poller makes a fork wait for its polling round (no breaker or
Redis pool lock is copied held), its publisher starts again in each worker,
redis-py opens new connections in a forked process, and the app opens no
other connection while it is built (SQLite is opened per request).
"""

import os


def _required_port() -> int:
    value = os.environ.get("PORT", "")
    if not value.isdigit() or not 0 < int(value) < 65536:
        # SystemExit, not an exception: gunicorn prints it as is and exits 1,
        # where an exception would be buried in a traceback.
        raise SystemExit(f"gunicorn.conf.py: set PORT to the port to listen on (1-65535), got {value!r}")
    return int(value)


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_required_port()}"
workers = int(os.environ.get("WORKERS", "4"))
preload_app = True
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))

# gunicorn >= 25 otherwise opens a control socket under $XDG_RUNTIME_DIR or
# ~/.gunicorn, shared by every service started by the same user.
control_socket_disable = True

accesslog = None  # the toolkit records every request itself
errorlog = "-"
graceful_timeout = 5
timeout = 30
