"""Start Python services by forking one interpreter that has imported their
libraries already (the system file's `local: preload:`, docs/system-file.md).

    python chaos/launcher.py        (run by the local runtime, never by hand)

Why: each of the shop's Python services is `python -m gunicorn ...` or
`python -m celery ...`, and each spends 0.6-1.1 s of CPU importing Flask,
gunicorn, requests, redis and the rest before it can answer. Six of them on
two cores made a cold run's start 2.0-2.3 s, most of what a cold `chaos run`
costs beyond its scenario. Imported once and forked six times, they answer
about a second sooner. This is the zygote of Android or the fork server of
multiprocessing; neither starts an arbitrary `python -m module` with its own
argv, environment and log, so it is written here, with no imports beyond the
standard library's (whatever this module imports, every unit inherits).

Protocol, one JSON object per line on stdin and stdout:

- in: {"preload": [module, ...]}; out: {"ready": true} once imported, or
  {"error": "..."} (and exit 2) if one does not import or starts a thread:
  a process with threads cannot be forked safely;
- in: {"argv": [python, "-m", module, args...], "env": {...}, "log": path};
  out: {"pid": N}. The child is what `python -m module args` with that
  environment would be, started in this launcher's working folder (the
  units' own), stdin from /dev/null, stdout and stderr appended to the log,
  in a session and process group of its own (like `start_new_session`);
- stdin's end: the launcher stays, as its children's parent, until the
  last of them has ended (it collects their exits), then ends; nothing else.

What a forked unit shares with the launcher and a fresh interpreter would
not: the preloaded modules and whatever they did at import time, under the
launcher's environment and working folder (the runtime's own environment,
the unit's folder; the unit's own variables are set only after the fork), the
interpreter's hash seed, and `sys.orig_argv`. `random` is seeded again in
every child by Python itself. Its command line reads as the unit's, through
setproctitle, which the launcher insists on (the agent tells a gunicorn worker
by its master's command line).
"""

from __future__ import annotations

import os
import sys

# Run by its file (chaos.runtime.local.Launcher): the first entry of the path
# is this folder. A unit started with `python -m` has its working folder
# there, and so must the modules imported for it.
if sys.path and os.path.dirname(os.path.abspath(__file__)) == os.path.abspath(sys.path[0] or "."):
    sys.path[0] = os.getcwd()

import importlib  # noqa: E402 - after the path is the units' own
import json  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


def _reply(message: dict) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def _lines(fd: int):
    """Lines of `fd`, read unbuffered: nothing read ahead stays behind in a
    buffer that the forked children would inherit."""
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


def _preload(modules: list[str]) -> dict | None:
    """None once every module is imported; else what went wrong, and with which module."""
    try:
        from setproctitle import setproctitle  # noqa: F401 - each child needs it: see the module's docstring
    except ImportError:
        return {"error": "needs the setproctitle package (a dependency of the toolkit): pip install setproctitle"}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - reported, whatever it was (a SystemExit too)
            return {"error": f"cannot import {name}: {type(e).__name__}: {e}", "module": name}
        if threading.active_count() > 1:
            names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
            return {"error": f"importing {name} started threads ({names}); a process with threads cannot be forked safely",
                    "module": name}
    return None


def _become(request: dict) -> None:
    """In the child: turn into `python -m module args` and run it; never returns.
    Its end (SystemExit or an exception) leaves the interpreter the usual
    way: atexit handlers, non-daemon threads joined, the exit status."""
    import runpy

    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1 << 16)
    argv = request["argv"]
    from setproctitle import setproctitle

    # Before the environment changes: it moves the environment's strings to
    # make room for a title longer than the launcher's own command line.
    setproctitle(" ".join(argv))
    os.environ.clear()
    os.environ.update(request["env"])
    module = argv[2]
    sys.argv = [module, *argv[3:]]  # runpy puts the module's file first, as `-m` does
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    raise SystemExit(0)


# -- in the toolkit's process: a launcher started before its own imports -------
#
# `chaos run` and `chaos up` on a stopped local stack start the launcher the
# system file asks for first thing, so that its imports run on the other core
# while the toolkit imports its own and reads the system file
# (chaos.__main__). The local runtime takes it if it asked for the same
# preload in the same folder (chaos.runtime.local.Launcher), and ends it
# otherwise. Nothing here imports more than the standard library and PyYAML,
# which the toolkit imports next anyway.

_prepared: dict = {}


def prepare_for(argv: list[str]) -> None:
    """Start a launcher for a `chaos run` or `chaos up` that will start the
    system's Python services on the local runtime. Best effort: on any doubt
    (another runtime, a file that does not parse, the stack already up) it
    starts nothing, and the runtime starts its own when it needs one."""
    try:
        _prepare_for(argv)
    except Exception:  # noqa: BLE001 - the runtime does the same later, and reports what is wrong
        pass


def _prepare_for(argv: list[str]) -> None:
    from chaos.argv import asks_for, option_of

    if not asks_for(argv, "run", "up"):
        return
    if (option_of(argv, "--runtime") or os.environ.get("RUNTIME", "local")) != "local" or option_of(argv, "--port-offset"):
        return
    import subprocess

    import yaml

    path = os.path.abspath(option_of(argv, "--system") or os.environ.get("CHAOS_SYSTEM", "system.yaml"))
    with open(path, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    common = list((spec.get("local") or {}).get("preload") or [])
    root = os.path.dirname(path)
    keys = set()
    for service in spec["services"].values():
        own = service.get("preload")
        preload = common if own is None else list(own)
        if preload and list(service.get("command", []))[:2] == ["{python}", "-m"]:
            keys.add((os.path.realpath(os.path.join(root, service.get("cwd", "."))), tuple(preload)))
    if not keys:
        return
    state = option_of(argv, "--state") or os.path.join(root, ".chaos")
    if _all_running(os.path.join(state, "local.json")):
        return  # a warm run: nothing to start, and the other core is the load generator's
    for cwd, preload in sorted(keys):
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)], cwd=cwd, env=dict(os.environ),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        proc.stdin.write((json.dumps({"preload": list(preload)}) + "\n").encode())  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        _prepared[(cwd, preload)] = proc


def _all_running(state_file: str) -> bool:
    """Every unit recorded there still runs (its pid has its recorded start
    time: chaos.runtime.process.is_ours, which imports more than this may)."""
    try:
        with open(state_file, encoding="utf-8") as f:
            units = json.load(f).get("units", {})
    except (OSError, ValueError):
        return False
    for record in units.values():
        try:
            with open(f"/proc/{record['pid']}/stat", "rb") as f:
                stat = f.read().decode()
        except OSError:
            return False
        if int(stat[stat.rindex(")") + 2:].split()[19]) != record["start_ticks"]:
            return False
    return bool(units)


def take(cwd: str, preload: list[str]):  # -> subprocess.Popen | None
    """The launcher started early for this folder and preload, if any (and
    still running); `discard` ends those nobody took."""
    wanted = _prepared.pop((os.path.realpath(cwd), tuple(preload)), None)
    if wanted is not None and wanted.poll() is not None:
        return None
    return wanted


def discard() -> None:
    """End every launcher started early that nobody took."""
    for proc in _prepared.values():
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            pipe.close()
    _prepared.clear()


def describe_status(status: int) -> str:
    """A wait status in words: "exit code 1", "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        try:
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        except ValueError:
            return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _say_how_it_ended(log: str | None, pid: int, status: int) -> None:
    """Append to the unit's log how it ended: a unit killed outright writes
    nothing itself, and its parent is the one process that knows."""
    if log is None:
        return
    try:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} pid {pid} ended: {describe_status(status)}\n")
    except OSError:
        pass  # its folder went away: nobody to tell


def main() -> None:
    lines = _lines(0)
    first = next(lines, None)
    if first is None:
        return
    problem = _preload(first.get("preload", []))
    if problem:
        _reply(problem)
        os._exit(2)
    _reply({"ready": True})
    logs = {}
    for request in lines:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become(request)
        logs[pid] = request["log"]
        _reply({"pid": pid})
    # The units' parent until the last of them ends: it collects each one's
    # exit, where init would otherwise be left to (and in a container often
    # does not, leaving zombies). It holds no port and no file of theirs, and
    # none of the toolkit's: a `chaos up` whose output a pipe reads must end.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        _say_how_it_ended(logs.get(pid), pid, status)
    # Nothing of ours to tear down: quick, and no module's finalizer runs twice.
    os._exit(0)


if __name__ == "__main__":
    main()
