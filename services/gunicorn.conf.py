"""Gunicorn settings shared by every sample service.

Started as `python -m gunicorn -c gunicorn.conf.py '<service>:create_app()'`
from this folder, with the environment saying where to listen:

- PORT (required): the port to bind;
- HOST (default 127.0.0.1; the images set 0.0.0.0);
- THREADS (default 8): request threads of the one worker.

One worker, many threads: a service's circuit breakers live in process
memory, and its chaos agent reports for its own process only (its breakers,
transition log, counters and boot_id), so a second worker would keep a
second, different set and /_chaos/breakers would answer for whichever worker
the request happened to reach.
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
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("THREADS", "8"))

# gunicorn >= 25 otherwise opens a control socket under $XDG_RUNTIME_DIR or
# ~/.gunicorn, shared by every service started by the same user.
control_socket_disable = True

accesslog = None  # the toolkit records every request itself
errorlog = "-"
graceful_timeout = 5
timeout = 30
