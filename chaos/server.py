"""A warm `chaos run`: the toolkit imported once, by a server `chaos up`
leaves beside the stack, and forked for each run.

    python -m chaos.server STATE_DIR [SOURCES]     (started by `chaos up`, never by hand)

Why: a warm run (the stack already up) costs about a second beyond its
scenario, and 0.5-0.6 s of that is `import chaos.cli` (pydantic building the
scenario models, requests, yaml) before the first line is printed; the
load generator's own start (aiohttp, uvloop) comes on top when the machine is
busy. A process that has imported all of it forks in a millisecond. This is
the launcher's idea (chaos/launcher.py) for the command itself, as Gradle's
daemon or nailgun are for the JVM; none of those forks a Python command with
its caller's terminal, folder, environment and signals, so it is written
here, with the standard library.

The command stays the caller's: `python -m chaos run ...` (chaos.__main__)
asks the server first, with nothing imported beyond the standard library,
and runs the command itself whenever the server is not there or declines.

Protocol, over the unix socket STATE_DIR/cli.sock (mode 0600; a peer of
another user is refused):

- the client sends one JSON line: argv, folder, environment, umask, the
  interpreter and its path, with its stdin, stdout and stderr attached
  (SCM_RIGHTS);
- the server declines ({"decline": why}) when forking would not give what a
  fresh interpreter would: another interpreter or import path, another
  PYTHON* variable, or a toolkit source file changed since it started (it
  then exits, and the next `chaos up` starts a fresh one);
- otherwise it forks. The child takes the caller's descriptors as its own
  0, 1 and 2, its folder, environment and argv, sends {"pid": N}, runs the
  command as `chaos.cli.run` would, and sends {"exit": code}.

Signals: the client forwards SIGINT, SIGTERM and SIGWINCH to that pid, so Ctrl-C and
`kill` roll back as always. If the client ends any other way (SIGKILL, a
closed terminal), the child kills itself at once (SIGKILL), as the process
the client would have been: what it left is for `chaos reset`, as before.

Lifetime: the local runtime's `down` stops it (by its pid and start time,
STATE_DIR/cli.json); it also exits by itself once the state file records no
unit (a stack stopped some other way), and when its sources are stale.
`CHAOS_WARM=off` makes every command run in its own interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

SOCKET = "cli.sock"
RECORD = "cli.json"
READY_WITHIN = 10.0  # seconds `chaos up` waits for a server it started to listen
_MAX_PATH = 100  # a unix socket's path must fit in 108 bytes
SOURCES = os.path.dirname(os.path.abspath(__file__))  # the toolkit's own package: a change makes a server stale


# -- the client (chaos.__main__): standard library only ------------------------


def state_dir_for(argv: list[str], environ: os._Environ | dict = os.environ) -> str | None:
    """The state folder a command line's local runtime uses (chaos.cli), or
    None when it cannot be told without the toolkit (`--port-offset auto`)."""
    from chaos.argv import option_of

    state = option_of(argv, "--state")
    if state:
        return os.path.abspath(state)
    system = option_of(argv, "--system") or environ.get("CHAOS_SYSTEM") or "system.yaml"
    offset = (option_of(argv, "--port-offset") or environ.get("CHAOS_PORT_OFFSET") or "0").strip()
    root = os.path.join(os.path.dirname(os.path.abspath(system)), ".chaos")
    if offset in ("", "0"):
        return root
    return os.path.join(root, f"offset-{offset}") if offset.isdigit() else None


def run_warm(argv: list[str]) -> int | None:
    """Run `chaos argv` in the warm server's fork and return its exit code;
    None when there is no server to ask or it declined (run it here)."""
    from chaos.argv import asks_for

    if os.environ.get("CHAOS_WARM", "on") == "off" or not asks_for(argv, "run"):
        return None
    state = state_dir_for(argv)
    path = os.path.join(state, SOCKET) if state else None
    if path is None or len(path) > _MAX_PATH or not os.path.exists(path):
        return None
    import array
    import socket

    pending: list[int] = []  # a signal before the child is known is forwarded once it is
    child: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if child:
            try:
                os.kill(child[0], signum)
            except ProcessLookupError:
                pass
        else:
            pending.append(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGWINCH)}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(5.0)
        try:
            conn.connect(path)
            request = {
                "argv": sys.argv[:1] + list(argv), "cwd": os.getcwd(), "env": dict(os.environ),
                "umask": _umask(), "executable": sys.executable, "path": sys.path, "package": SOURCES,
                "streams": [[s.encoding, s.errors] for s in (sys.stdin, sys.stdout, sys.stderr)],
            }
            fds = array.array("i", [0, 1, 2])
            conn.sendmsg([(json.dumps(request) + "\n").encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            reader = conn.makefile("rb")
            reply = json.loads(reader.readline() or b"{}")
        except (OSError, ValueError, AttributeError):
            return None  # not listening, gone, a closed stdio: run it here
        if "pid" not in reply:
            return None  # declined: run it here
        child.append(int(reply["pid"]))
        for signum in pending:
            forward(signum, None)
        conn.settimeout(None)
        while True:
            try:
                line = reader.readline()
            except OSError:
                line = b""
            if not line:
                print("chaos: error: the run's process (forked by the warm server) ended without an exit code; "
                      "run `chaos reset` if it left faults", file=sys.stderr)
                return 1
            message = json.loads(line)
            if "exit" in message:
                return int(message["exit"])
    finally:
        conn.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- started and stopped by `chaos up` / `down` ------------------------------------


def unavailable(state: str) -> str | None:
    """Why no server can serve this state folder, or None."""
    path = os.path.join(os.path.abspath(state), SOCKET)
    if len(path) > _MAX_PATH:
        return f"its socket's path would be {len(path)} characters, more than a unix socket takes ({_MAX_PATH})"
    return None


def spawn(state: str, sources: str = SOURCES) -> Any:
    """Start a server for the stack whose state is in `state` (its imports
    take a moment: `ready` waits for it); None if one runs already.
    `sources`: the folder whose change makes it stale (tests give their own)."""
    import subprocess

    if running(state):
        if _recorded(state).get("stamp") == _stamp_digest(_source_stamp(sources)):
            return None
        stop(state)  # it would decline every run: the toolkit changed since it started
    os.makedirs(os.path.join(state, "logs"), exist_ok=True)
    with open(os.path.join(state, "logs", "cli-server.log"), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "chaos.server", state, sources], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True)
    _SPAWNED.append(proc)
    return proc


def ready(state: str, proc: Any, timeout: float = READY_WITHIN) -> bool:
    """Wait until the server `spawn` started listens; False if it ended or took too long."""
    if proc is None:
        return running(state) is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if running(state) == proc.pid and os.path.exists(os.path.join(state, SOCKET)):
            return True
        time.sleep(0.02)
    return False


_SPAWNED: list = []  # Popen objects of servers this process started (collected by stop)


def running(state: str) -> int | None:
    """The pid of the server recorded in `state`, if it still runs (by `chaos
    up` and `down`, which have imported the runtime: not by the client)."""
    from chaos.runtime.process import start_ticks

    record = _recorded(state)
    try:
        return record["pid"] if start_ticks(record["pid"]) == record["start_ticks"] else None
    except (KeyError, TypeError):
        return None


def _recorded(state: str) -> dict:
    try:
        with open(os.path.join(state, RECORD), encoding="utf-8") as f:
            record = json.load(f)
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def _stamp_digest(stamp: tuple) -> str:
    import hashlib

    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]


def stop(state: str, timeout: float = 5.0) -> bool:
    """Stop the server recorded in `state` (ours: its start time matches); True if one was stopped."""
    pid = running(state)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    from chaos.runtime.process import state_letter

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and state_letter(pid) not in (None, "Z"):
        _collect()
        time.sleep(0.01)
    if state_letter(pid) not in (None, "Z"):
        os.kill(pid, signal.SIGKILL)
    _collect()
    return True


def _collect() -> None:
    _SPAWNED[:] = [p for p in _SPAWNED if p.poll() is None]


# -- the server ---------------------------------------------------------------------

# What a run imports: the command, the engine and the local runtime, the load
# generator the run's child forks (chaos.engine.load_process), the contract
# checks (jsonschema_rs) and the report. A module left out is imported by
# each run, as before; none starts a thread (a child is forked from here).
PRELOAD = ["chaos.cli", "chaos.engine.runner", "chaos.engine.load", "chaos.runtime.local", "chaos.contract",
           "chaos.spec.budget", "chaos.spec.ports", "chaos.tools", "chaos.report", "chaos.report.html",
           "chaos.report.figure", "chaos.ui.live", "pydantic.type_adapter"]


def _source_stamp(root: str = SOURCES) -> tuple:
    """The sources under `root` as they are now: every .py file's size and mtime."""
    stamp = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                stamp.append((folder, name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(stamp))


# PYTHON* variables a forked child honours itself (its streams are made for
# the caller) or that change nothing after start-up; any other must match.
_CHILD_HONOURS = {"PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE"}


def _python_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k not in _CHILD_HONOURS}


def _refusal(request: dict, stamp: tuple, sources: str) -> tuple[str | None, bool]:
    """(why not to fork for this request, whether this server is stale)."""
    if request.get("executable") != sys.executable or request.get("path", [None])[1:] != sys.path[1:]:
        return "another interpreter or import path", False
    if request.get("package") != os.path.dirname(os.path.abspath(__file__)):
        return "another copy of the toolkit", False
    if _python_env(request.get("env", {})) != _python_env(dict(os.environ)):
        return "other PYTHON* variables", False
    if _source_stamp(sources) != stamp:
        return "the toolkit's sources changed since the server started", True
    return None, False


def _stack_recorded(state: str) -> bool:
    try:
        with open(os.path.join(state, "local.json"), encoding="utf-8") as f:
            return bool(json.load(f).get("units"))
    except (OSError, ValueError, AttributeError):
        return False


def serve(state: str, sources: str = SOURCES) -> None:
    import gc
    import importlib
    import select
    import socket

    gc.disable()
    for module in PRELOAD:
        importlib.import_module(module)
    gc.freeze()
    gc.enable()
    from chaos.runtime.process import start_ticks

    stamp = _source_stamp(sources)
    path = os.path.join(state, SOCKET)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fresh = f"{path}.{os.getpid()}"
    listener.bind(fresh)
    os.chmod(fresh, 0o600)
    listener.listen(16)
    os.replace(fresh, path)
    inode = os.stat(path).st_ino
    with open(os.path.join(state, RECORD + ".new"), "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "start_ticks": start_ticks(os.getpid()), "stamp": _stamp_digest(stamp)}, f)
    os.replace(os.path.join(state, RECORD + ".new"), os.path.join(state, RECORD))
    signal.signal(signal.SIGTERM, _stop_now)  # at once, not after select's second
    signal.signal(signal.SIGINT, _stop_now)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} listening on {path}", flush=True)
    seen_units = _stack_recorded(state)  # `chaos up` records its units as it starts them, beside this import
    started = time.monotonic()
    try:
        while True:
            _reap()
            ready, _, _ = select.select([listener], [], [], 1.0)
            if ready:
                conn, _ = listener.accept()
                if _handle(conn, listener, stamp, sources):
                    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} the toolkit's sources changed: exiting", flush=True)
                    break
                continue
            recorded = _stack_recorded(state)
            seen_units = seen_units or recorded
            if (seen_units or time.monotonic() - started > 60.0) and not recorded:
                print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} the stack is down: exiting", flush=True)
                break
            try:
                if os.stat(path).st_ino != inode:
                    break  # another server took the socket's place
            except FileNotFoundError:
                break
    except _Stopping:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} stopped", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        listener.close()
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        if running(state) == os.getpid():
            os.unlink(os.path.join(state, RECORD))


class _Stopping(Exception):
    """SIGTERM or SIGINT: stop serving."""


def _stop_now(signum: int, frame: object) -> None:
    raise _Stopping


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _handle(conn: socket.socket, listener: socket.socket, stamp: tuple, sources: str) -> bool:
    """Fork a child for one request, or decline it; True if this server is stale."""
    import array
    import socket
    import struct

    fds: list[int] = []
    try:
        _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != os.getuid():
            return False
        conn.settimeout(5.0)
        data = b""
        while not data.endswith(b"\n"):
            msg, ancdata, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(3 * 4))
            if not msg:
                return False
            data += msg
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
        request = json.loads(data)
        why, stale = _refusal(request, stamp, sources)
        if why is not None or len(fds) != 3:
            conn.sendall((json.dumps({"decline": why or "no stdio"}) + "\n").encode())
            return stale
        pid = os.fork()
        if pid == 0:
            try:
                _child(conn, listener, request, fds)
            finally:
                os._exit(70)
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid {pid}: chaos {' '.join(request['argv'][1:])}", flush=True)
        return False
    except (OSError, ValueError) as e:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} a request failed: {e}", flush=True)
        return False
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def _child(conn: socket.socket, listener: socket.socket, request: dict, fds: list[int]) -> None:
    """Become the caller's `chaos` process, run the command, report its exit code."""
    import io
    import threading

    listener.close()
    for sig in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setpgid(0, 0)  # not in the server's group: stopping the server leaves a run alone
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    (in_enc, in_err), (out_enc, out_err), (err_enc, err_err) = request["streams"]
    sys.stdin = io.TextIOWrapper(io.open(0, "rb", closefd=False), encoding=in_enc, errors=in_err)
    unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
    sys.stdout = io.TextIOWrapper(io.open(1, "wb", closefd=False), encoding=out_enc, errors=out_err,
                                  line_buffering=os.isatty(1), write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(io.open(2, "wb", closefd=False), encoding=err_enc, errors=err_err,
                                  line_buffering=True)
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    from setproctitle import setproctitle

    # In ps, the command the caller typed. Before the environment changes:
    # a longer title takes the room of the environment's strings (chaos/launcher.py).
    setproctitle(" ".join([sys.executable, "-m", "chaos", *request["argv"][1:]]))
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    sys.path[0] = request["path"][0]
    argv = sys.argv[1:]
    conn.settimeout(None)
    conn.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
    # Still one thread: the load generator is forked now, with its imports
    # done (chaos.engine.load_process), and a launcher started if needed.
    from chaos.engine import load_process
    from chaos.launcher import prepare_for as prepare_launcher

    load_process.prepare_for(argv, fork=True)
    prepare_launcher(argv)
    done = threading.Event()

    def die_with_client() -> None:
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        if not done.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_client, name="client", daemon=True).start()
    from chaos.cli import execute

    code = execute()
    done.set()
    try:
        conn.sendall((json.dumps({"exit": code}) + "\n").encode())
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    serve(os.path.abspath(sys.argv[1]), *(os.path.abspath(a) for a in sys.argv[2:3]))
