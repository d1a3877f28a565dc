"""The load generator in a process of its own, for `chaos run`.

The generator (chaos.engine.load) is the instrument, and in the runner's
process it shared everything with the rest of the run:

- its import (aiohttp and uvloop: 0.19 s of CPU, 0.11 s of it the TLS
  contexts aiohttp builds at import) ran under the runner's GIL beside the
  set-up, and the set-up before the load starts is most of a warm run's cost;
- the kernel's autogroups share CPU between sessions first: a generator in
  the session of a test suite, of `make` or of a soak's hogs got that
  session's share, and fell behind its schedule (lag p99 141 ms at 30 req/s
  beside two busy loops of the same session; 9 ms with them in a session of
  their own), turning a healthy run into "load not delivered".

So `chaos run` starts the generator as a child process in a session of its
own (its own autogroup), at a higher priority where allowed, and as early as
the command line says a run is coming (`prepare`), so its imports take the
other core while the runner loads the scenario and sets up. The child
streams its records back over a pipe as they happen (a batch every
FLUSH_EVERY seconds): the history, the live view and the checks see the same
records, with the times the child stamped (time.time() is one clock for both).

It dies with the runner: it stops when its stdin closes (the runner ended,
however it ended) and the kernel kills it if the runner dies first
(PR_SET_PDEATHSIG). Written by hand, not with multiprocessing: a Process can
neither start in a session of its own nor die with its parent, and its
spawn start would import this toolkit's whole `__main__` again.

This module imports nothing heavy: the runner uses it without importing
aiohttp; the child imports it when it starts (`python -m chaos.engine.load_process`).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from types import SimpleNamespace
from typing import IO, Any

FLUSH_EVERY = 0.05  # seconds between batches of records sent to the runner
START_WITHIN = 60.0  # seconds the child may take to import and open its session
RETRY_AFTER = 0.5  # chaos.engine.load.RETRY_AFTER (not imported: it would import aiohttp)

_prepared: Child | None = None
_prepared_lock = threading.Lock()


class Child:
    """A started generator process, waiting for what to send.

    `fork`: forked from this process, which has imported the generator
    already and runs one thread only (chaos.server's child, before the
    command starts); otherwise a fresh interpreter that imports it."""

    def __init__(self, fork: bool = False) -> None:
        self.proc: subprocess.Popen | Forked = Forked() if fork else subprocess.Popen(
            [sys.executable, "-m", "chaos.engine.load_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True, close_fds=True,
            env={**os.environ, "CHAOS_LOAD_PARENT": str(os.getpid())},
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


class Forked:
    """The part of Popen a Child uses, for a generator forked from this process."""

    def __init__(self) -> None:
        to_child, self_in = os.pipe()
        self_out, from_child = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # the generator: `python -m chaos.engine.load_process`, without the imports
            try:
                os.setsid()
                os.dup2(to_child, 0)
                os.dup2(from_child, 1)
                os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
                from setproctitle import setproctitle

                # As a started one reads in ps (not as the run: `pkill -f "chaos run"` means the run).
                setproctitle(f"{sys.executable} -m chaos.engine.load_process")
                os.environ["CHAOS_LOAD_PARENT"] = str(parent)
                sys.stdin = open(0, closefd=False)  # noqa: SIM115 - child_main reads its buffer
                child_main()
            finally:
                os._exit(1)
        os.close(to_child)
        os.close(from_child)
        self.stdin: IO[bytes] | None = os.fdopen(self_in, "wb")
        self.stdout: IO[bytes] | None = os.fdopen(self_out, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -9  # collected elsewhere: it has ended
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["chaos.engine.load_process"], timeout or 0.0)
            time.sleep(0.005)
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass


def prepare(fork: bool = False) -> None:
    """Start a generator process now, for the next `Load` to take (`fork`: see Child)."""
    global _prepared
    with _prepared_lock:
        if _prepared is None or _prepared.proc.poll() is not None:
            _prepared = Child(fork)


def discard() -> None:
    """Stop a prepared generator process nobody took (the run ended before its load)."""
    global _prepared
    with _prepared_lock:
        child, _prepared = _prepared, None
    if child is not None:
        child.kill()


def prepare_for(argv: list[str], fork: bool = False) -> None:
    """`prepare` if these `chaos` arguments ask for a run that will send load
    (not --dry-run, not --help). Called before the toolkit's own imports, or
    (`fork`) by chaos.server's child, which has them."""
    from chaos.argv import asks_for

    if asks_for(argv, "run"):
        try:
            prepare(fork)
        except OSError:
            pass  # the run starts one itself, and says why if it cannot


def _take() -> Child:
    global _prepared
    with _prepared_lock:
        child, _prepared = _prepared, None
    if child is not None and child.proc.poll() is None:
        return child
    return Child()


class Target:
    """What the generator needs of a system, and nothing else (the System
    itself carries the parsed file and its proxies): picklable."""

    def __init__(self, system: Any) -> None:
        self.entrypoint = SimpleNamespace(base_url=system.entrypoint.base_url)
        self.routes = dict(system.routes)
        self.spec = SimpleNamespace(variables=dict(system.spec.variables))
        self._fallbacks = {name: system.fallback_rule(name) for name in self.routes}

    def fallback_rule(self, route: str) -> Any:
        return self._fallbacks[route]


class Load:
    """chaos.engine.load.LoadGenerator's start / stop / delivery, with the
    generator in a child process (see the module's docstring)."""

    def __init__(self, system: Any, mix: dict[str, int], rate: float, timeout: float, history: Any, seed: int,
                 max_lag: float):
        self.rate = rate
        self.timeout = timeout
        self.history = history
        self.delivery: Any = None
        self._plan = (Target(system), mix, rate, timeout, seed, max_lag)
        self._child: Child | None = None
        self._started = threading.Event()
        self._started_at = 0.0
        self._error: str | None = None
        self._reader: threading.Thread | None = None
        self._stopped = False

    @property
    def started_at(self) -> float:
        """When the child started its schedule (time.time()); 0 before."""
        return self._started_at

    def start(self) -> None:
        """Start sending; RuntimeError if the generator could not start."""
        self._child = child = _take()
        self._reader = threading.Thread(target=self._read, args=(child.proc.stdout,), name="load-records", daemon=True)
        self._reader.start()
        try:
            assert child.proc.stdin is not None
            pickle.dump(("start", *self._plan), child.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            child.proc.stdin.flush()
        except OSError as e:
            self._error = f"its process did not take the load's plan ({e})"
        if self._error is None and not self._started.wait(START_WITHIN):
            self._error = f"its process did not start within {START_WITHIN:g} s"
        if self._error is not None or not self._started_at:
            why = self._error or f"its process ended (exit {child.proc.poll()})"
            self._stopped = True
            child.kill()
            raise RuntimeError(f"the load generator could not start: {why}")

    def stop(self) -> None:
        """Stop sending, wait for the requests in flight (at most the client
        timeout) and their records; then `delivery` says what was delivered.
        Safe to call twice."""
        child = self._child
        if child is None or self._stopped:
            return
        self._stopped = True
        try:
            assert child.proc.stdin is not None
            pickle.dump(("stop",), child.proc.stdin)
            child.proc.stdin.close()  # and if the stop did not get there, the end of its input stops it
        except OSError:
            pass
        assert self._reader is not None
        self._reader.join(self.timeout + RETRY_AFTER + 10.0)
        try:
            child.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        child.kill()
        if self.delivery is None and self._started_at:
            self.delivery = self._delivery_from_records()
            self.history.append(self.delivery)

    def _read(self, stream: IO[bytes]) -> None:
        """Append what the child sends to the history, until it ends."""
        from chaos.history import LoadDelivery

        try:
            while True:
                frame = pickle.load(stream)
                if frame[0] == "records":
                    for record in frame[1]:
                        if isinstance(record, LoadDelivery):
                            self.delivery = record
                        self.history.append(record)
                elif frame[0] == "started":
                    self._started_at = frame[1]
                    self._started.set()
                elif frame[0] == "error":
                    self._error = frame[1]
                    break
                elif frame[0] == "end":
                    break
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        finally:
            self._started.set()  # never leave start() waiting on a child that ended

    def _delivery_from_records(self) -> Any:
        """The delivery, from the records received, when the child ended
        without saying it (it died): whatever it sent before is all there is."""
        from chaos.history import Request
        from chaos.history.queries import delivery_of

        _, _, rate, _, _, max_lag = self._plan
        firsts = [r for r in self.history.of(Request) if r.attempt == 1 and r.t_start >= self._started_at]
        now = time.time()
        return delivery_of(rate, now - self._started_at, len(firsts), 0, [r.t_start - r.t_sched for r in firsts],
                           max_lag, 0, 0.0, now)


# -- the child ----------------------------------------------------------------


class _Outbox:
    """The child's history: records wait here until the next batch is sent."""

    def __init__(self) -> None:
        self._waiting: deque[Any] = deque()

    def append(self, record: Any) -> None:
        self._waiting.append(record)

    def send(self, out: IO[bytes]) -> None:
        batch = []
        while self._waiting:
            batch.append(self._waiting.popleft())
        if batch:
            _send(out, ("records", batch))


def _send(out: IO[bytes], frame: tuple) -> None:
    pickle.dump(frame, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the end of its input still stops it
    if os.getppid() != parent:  # the runner was gone before that took hold
        os._exit(0)


def _prefer_this_process(nice: int) -> None:
    """A higher priority for the child, if allowed: the process itself and
    its session's autogroup (which the kernel weighs against other sessions)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass


def child_main() -> None:
    parent = int(os.environ.get("CHAOS_LOAD_PARENT", "0")) or os.getppid()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, never into the records
    _die_with_parent(parent)
    from chaos.engine.load import LOAD_NICE, LoadGenerator  # the imports the runner no longer pays for

    _prefer_this_process(LOAD_NICE)
    stdin = sys.stdin.buffer
    try:
        frame = pickle.load(stdin)
    except (EOFError, pickle.UnpicklingError):
        os._exit(0)  # prepared, never used
    _, target, mix, rate, timeout, seed, max_lag = frame
    outbox = _Outbox()
    gen = LoadGenerator(target, mix, rate, timeout, outbox, seed, max_lag=max_lag)  # type: ignore[arg-type]
    try:
        gen.start()
    except RuntimeError as e:
        _send(out, ("error", str(e.__cause__ or e)))
        os._exit(1)
    _send(out, ("started", gen._started_at))
    stop = threading.Event()

    def wait_for_stop() -> None:
        try:
            pickle.load(stdin)
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        stop.set()

    threading.Thread(target=wait_for_stop, name="stop", daemon=True).start()
    while not stop.wait(FLUSH_EVERY):
        outbox.send(out)
    gen.stop()
    outbox.send(out)
    _send(out, ("end",))
    out.close()
    os._exit(0)  # nothing left to free that matters


if __name__ == "__main__":
    child_main()
