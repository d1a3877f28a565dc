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

# Each worker tells the master it is alive by touching a file (os.utime) on
# every turn of its loop. In a folder on disk that is a metadata write, which
# on ext4 waits its turn for the journal, and another process fsyncing big
# files (a build, a backup, the soak's disk hog) can hold the journal a long
# while: the worker serves nothing meanwhile (gunicorn's FAQ, "Blocking OS
# calls"). /dev/shm is memory. Beside the soak's disk hog, 43 000 touches
# each: a file in /tmp p99.9 1.08 ms, max 19 ms; in /dev/shm p99.9 0.07 ms,
# max 3.5 ms.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None

accesslog = None  # the toolkit records every request itself
errorlog = "-"
graceful_timeout = 5
timeout = 30


# -- a stop asked for while a worker boots --------------------------------------
#
# A forked worker runs the master's signal handlers until it installs its own
# (Worker.init_signals, after post_fork): a SIGTERM that reaches it in between
# is put on the worker's copy of the master's queue, where nobody reads it.
# The worker then serves on, and the master's stop waits graceful_timeout (5 s)
# to kill it: seen as `chaos down` or a test's stop taking 5.1 s when it came
# right after the start, on busy cores. The worker keeps that copy of the queue
# (post_fork) and, once its own handlers are in (post_worker_init), stops as
# asked if a stop is on it.

_STOPS = ("SIGTERM", "SIGINT", "SIGQUIT")


def post_fork(server, worker):
    """In the new worker: keep its copy of the master's signal queue."""
    worker.queued_before_boot = server.SIG_QUEUE


def post_worker_init(worker):
    """In the worker, its own handlers in: honour a stop that came before them."""
    import queue
    import signal

    pending = getattr(worker, "queued_before_boot", None)
    queued = []
    if isinstance(pending, list):  # gunicorn before 25 queued signals in a list
        queued = list(pending)
    elif pending is not None:
        while True:
            try:
                queued.append(pending.get_nowait())
            except queue.Empty:
                break
    if {getattr(signal, name) for name in _STOPS} & set(queued):
        worker.log.info("Worker stopping (pid: %s): asked to before it booted", worker.pid)
        worker.alive = False


# -- a quick exit once a process has stopped cleanly --------------------------
#
# A worker that has served its last request and a master whose workers are
# gone have nothing left to do but tear the interpreter down: free every
# module, app and object one by one. With preload_app those objects live in
# pages the workers share with the master since the fork, and freeing them
# writes each page's reference counts, copying the page: a stop took each
# service 1.3-1.7 s of it on two busy cores (workers gone 0.12 s after the
# SIGTERM with this, the master 0.2 s), and `chaos down` waited for it. What
# that teardown would do is done already by then: requests answered or
# refused (gunicorn's graceful stop), SQLite connections closed after each
# request, logs flushed here. Any other exit (a worker that failed to boot, a
# master halting with an error) goes the usual way, status and all.


def _exit_now() -> None:
    import logging
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def worker_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """In the worker, after its loop: quick exit if it ended with status 0."""
    import sys

    if os.getpid() != worker.pid:  # the master calls this too, for a worker it reaped
        return
    ending = sys.exc_info()[1]  # gunicorn calls this in a `finally` around the worker's sys.exit
    if isinstance(ending, SystemExit) and ending.code in (0, None):
        _exit_now()


def on_exit(server):  # noqa: ARG001 - gunicorn's hook signature
    """In the master, just before its sys.exit: quick exit if that is exit 0."""
    import sys

    # Arbiter.halt(reason, exit_status) calls this; another gunicorn's name
    # for the status gives None, and the usual exit.
    if sys._getframe(1).f_locals.get("exit_status") == 0:
        _exit_now()
