"""The local runtime: Toxiproxy and every service as processes on this machine.

Each unit runs in its own process group (so a kill reaches gunicorn's master
and its worker alike), with its output in STATE/logs/NAME.log. What was
started is recorded in STATE/local.json, so a later run, `chaos down` or
`make down` stops what an interrupted run left behind, and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


from chaos.clients.agent import agent_env, agent_token
from chaos.clients.http import Session
from chaos.errors import ConfigError, SetupError
from chaos.tools import TOXIPROXY_HINT, find_tool
from chaos.engine.interrupts import deferred
from chaos.launcher import discard as discard_prepared, take as take_prepared
from chaos.runtime import TOXIPROXY, Status
from chaos.runtime.readiness import service_ready
from chaos.runtime.process import Record, how_it_ended, is_ours, signal_group, start_ticks, state_letter, wait_gone, wait_state
from chaos.spec.system import System
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError

STOP_GRACE = 10.0


@dataclass(frozen=True)
class Unit:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    host: str
    port: int
    ready: Callable[[], bool]
    start_timeout: float


# Toxiproxy logs at trace level unless told otherwise: an "Accepted client"
# line for every connection, "Setup connection" for each of its two
# directions, "Source terminated" (a warning) as most of them end. A run of
# order-down wrote 1651 lines, 477 KB: 30% of its run folder, copied into
# every report folder a nightly uploads. At "error" what stays is what tells
# something: "Unable to open connection to upstream" while a service is down.
# (Not a latency fix: beside the soak's disk writer, 6000 new connections
# through a proxy had the same tail either way: p99.9 24-35 ms at trace,
# 24-39 ms at error.)
# The system file's toxiproxy.env wins.
TOXIPROXY_ENV = {"LOG_LEVEL": "error"}


class LocalRuntime:
    """Runs a system's units as local process groups. See chaos.runtime.Runtime."""

    def __init__(self, system: System, state_dir: Path, env: dict[str, str] | None = None):
        self.system = system
        self.state_dir = state_dir.resolve()
        self.extra_env = dict(env or {})
        self.agent_token = agent_token(self.state_dir)
        self._http = Session()
        self._units = {u.name: u for u in self._plan()}

    # -- the protocol ---------------------------------------------------------

    def up(self) -> list[str]:
        # Every unit is spawned first and then waited for, all at once: a
        # service's /health needs none of the others, and no request is sent
        # before up returns, so the order of starting does not matter while
        # the time each takes to boot does not add up.
        spawned, running, to_start = [], [], []
        records = self._records()
        for name in self._units:
            record = records.get(name)
            if record and is_ours(record):
                if record.fingerprint == self._fingerprint(self._units[name]):
                    signal_group(record, signal.SIGCONT)  # a paused unit left by an interrupted run
                    running.append((self._units[name], record))
                    continue
                self.stop(name)  # started with another configuration (e.g. CHAOS_BREAKERS): start afresh
            if name == TOXIPROXY and self._foreign_toxiproxy():
                continue
            to_start.append(name)
        # Python services forked from a launcher that imports their libraries
        # once (the system file's local.preload, chaos.launcher): its imports
        # run while the other units start, and those are started first.
        launchers = self._launchers([self._units[n] for n in to_start])
        try:
            for name in sorted(to_start, key=lambda n: self._launch_key(self._units[n]) is not None):
                key = self._launch_key(self._units[name])
                spawned.append(self._spawn(name, launchers[key] if key else None))
        except BaseException:
            # Nothing half-done: a preload that does not import (known only
            # now) or a port in use stops what this call already started.
            for unit, _ in spawned:
                self.stop(unit.name)
            raise
        finally:
            for launcher in launchers.values():
                launcher.close()
            discard_prepared()  # started early for a preload nobody asked for after all
        # Waited for together: each wait is a health request or more, to its own process.
        with ThreadPoolExecutor(max_workers=max(1, len(running) + len(spawned))) as pool:
            waits = {unit.name: pool.submit(self._wait_ready, unit, record) for unit, record in running + spawned}
            # The proxies as soon as Toxiproxy answers (a tenth of a second),
            # not after every service: a service that reaches Redis through
            # its proxy while it starts (the breaker store's reset) would
            # otherwise wait for a proxy that is not there yet. The system
            # file's own proxies come with `-config`; a moved one's do not.
            if TOXIPROXY in waits:
                waits[TOXIPROXY].result()
            self._populate_proxies()
            for done in waits.values():
                done.result()
        return [unit.name for unit, _ in spawned]

    def down(self) -> list[str]:
        # Our own keep-alive connections first: gunicorn's graceful stop waits
        # for open connections, and health checks leave one to every service.
        self._http.close()
        # All at once, in two waves: each unit's graceful shutdown takes a
        # moment, and waiting for them in turn would add those moments up.
        # But what the services hold connections to (Toxiproxy, and the units
        # with no HTTP health: databases, brokers) goes second, once the
        # services are gone: a service that loses its broker while it stops
        # tries to reconnect first. The shop's Celery worker did, in half the
        # cold runs: its stop took 1.1 s instead of 0.2 (kombu's retry waits
        # in whole seconds), where the second wave takes 0.02-0.1 s.
        records = [r for r in self._records().values() if is_ours(r)]
        last = [r for r in records if self._held(r.name)]
        for wave in ([r for r in records if r not in last], last):
            _stop_together(wave)
        for name in list(self._units):
            self._forget(name)
        reap_launchers()
        from chaos import server

        server.stop(str(self.state_dir))  # the warm server `chaos up` left for this stack's runs
        order = list(self._units)
        return sorted((r.name for r in records), key=lambda n: -order.index(n) if n in order else 0)

    def start(self, name: str) -> None:
        self._wait_ready(*self._spawn(name))

    def _held(self, name: str) -> bool:
        """Whether the services hold connections to the unit: Toxiproxy, and a
        unit with no HTTP health (a database, a broker), as the system file says."""
        spec = self.system.services.get(name)
        return name == TOXIPROXY or (spec is not None and spec.health == "tcp")

    def _preload(self, unit: Unit) -> list[str]:
        """The modules to preload for the unit: its own preload, else local.preload."""
        spec = self.system.services.get(unit.name)
        own = spec.preload if spec is not None else None
        return list(self.system.spec.local.preload if own is None else own)

    def _launch_key(self, unit: Unit) -> tuple[Path, tuple[str, ...]] | None:
        """Which launcher forks the unit (its folder and preload), or None to
        start it as a process of its own: only `{python} -m module ...` (this
        interpreter, no options of its own) with modules to preload."""
        preload = self._preload(unit)
        if not preload or unit.command[:2] != [sys.executable, "-m"] or len(unit.command) < 3:
            return None
        return unit.cwd, tuple(preload)

    def _launchers(self, units: list[Unit]) -> dict[tuple[Path, tuple[str, ...]], Launcher]:
        """One launcher per working folder and preload: a module may read its
        working folder as it is imported (gunicorn does), and services that
        preload different libraries (a web app, a Celery worker) import them
        side by side."""
        keys = sorted({k for u in units if (k := self._launch_key(u)) is not None})
        return {(cwd, preload): Launcher(cwd, list(preload), self.system) for cwd, preload in keys}

    def _spawn(self, name: str, launcher: Launcher | None = None) -> tuple[Unit, Record]:
        """Start the unit's process (forked by `launcher` if given) and record it; not yet ready."""
        unit = self._unit(name)
        record = self._records().get(name)
        if record and is_ours(record):
            raise SetupError(f"{name} is already running (pid {record.pid})")
        if _listening(unit.host, unit.port):
            raise SetupError(
                f"cannot start {name}: {unit.host}:{unit.port} is already in use by a process the toolkit did not start"
            )
        log = self.state_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "data").mkdir(parents=True, exist_ok=True)
        # Ctrl-C or SIGTERM waits until the process is recorded: one started but
        # not recorded would hold its port, and nothing would ever stop it.
        with log.open("ab") as out, deferred():
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(unit.command)}\n".encode())
            out.flush()
            if launcher is not None:
                pid = launcher.spawn(unit.command, {**os.environ, **unit.env}, log)
            else:
                try:
                    pid = subprocess.Popen(
                        unit.command,
                        cwd=unit.cwd,
                        env={**os.environ, **unit.env},
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ).pid
                except OSError as e:
                    hint = f" ({TOXIPROXY_HINT})" if name == TOXIPROXY else ""
                    raise SetupError(f"cannot start {name}: {e.strerror}: {unit.command[0]}{hint}") from None
            ticks = start_ticks(pid)
            record = Record(name, pid, ticks or 0, unit.command, str(log), self._fingerprint(unit))
            self._remember(record)
        return unit, record

    def stop(self, name: str) -> None:
        record = self._records().get(name)
        if record is None or not is_ours(record):
            return
        _stop_together([record])

    def kill(self, name: str) -> None:
        record = self._records().get(name)
        if record is None or not signal_group(record, signal.SIGKILL):
            raise SetupError(f"cannot kill {name}: it is not running under this runtime")
        if not wait_gone(record, 5.0):
            raise SetupError(f"{name} (pid {record.pid}) survived SIGKILL for 5 s")

    def pause(self, name: str) -> None:
        record = self._records().get(name)
        if record is None or not signal_group(record, signal.SIGSTOP):
            raise SetupError(f"cannot pause {name}: it is not running under this runtime")
        if not wait_state(record, stopped=True, timeout=5.0):
            raise SetupError(f"{name} (pid {record.pid}) did not stop on SIGSTOP within 5 s")

    def resume(self, name: str) -> None:
        record = self._records().get(name)
        if record is not None and signal_group(record, signal.SIGCONT):
            wait_state(record, stopped=False, timeout=5.0)

    def restart(self, name: str) -> None:
        record = self._records().get(name)
        if record is not None and is_ours(record):
            self.kill(name)
        self.start(name)

    def status(self, name: str) -> Status:
        self._unit(name)
        record = self._records().get(name)
        if record is None or not is_ours(record):
            return Status.STOPPED
        return Status.PAUSED if state_letter(record.pid) in ("T", "t") else Status.RUNNING

    def logs(self, name: str) -> Path | None:
        self._unit(name)
        return self.state_dir / "logs" / f"{name}.log"

    def identity(self, name: str) -> str | None:
        """The pid and kernel start time of the unit's group leader, while it runs."""
        record = self._records().get(name)
        return f"{record.pid}/{record.start_ticks}" if record and is_ours(record) else None

    def pid(self, name: str) -> int | None:
        """The pid of the unit's process group leader, while it runs."""
        record = self._records().get(name)
        return record.pid if record and is_ours(record) else None

    # -- planning -------------------------------------------------------------

    def _plan(self) -> list[Unit]:
        """Toxiproxy first, then services with the ones nobody depends on last."""
        tp = self.system.spec.toxiproxy
        url = urlsplit(tp.url)
        binary = find_tool(tp.command[0], self.system.root) or tp.command[0]
        units = [
            Unit(
                TOXIPROXY,
                [binary, *tp.command[1:]],
                self.system.root,
                {**TOXIPROXY_ENV, **tp.env},
                url.hostname or "127.0.0.1",
                url.port or 8474,
                lambda: self._toxiproxy_ready(),
                10.0,
            )
        ]
        for name in self._service_order():
            spec = self.system.services[name]
            subst = {"python": sys.executable, "state": str(self.state_dir), "root": str(self.system.root)}
            # The system file's own env wins: it may switch its agent off.
            env = {**self.extra_env, **agent_env(name, spec, self.agent_token),
                   **{k: v.format(**subst) for k, v in spec.env.items()}, "PORT": str(spec.port)}
            units.append(
                Unit(
                    name,
                    [part.format(**subst) for part in spec.command],
                    (self.system.root / spec.cwd).resolve(),
                    env,
                    spec.host,
                    spec.port,
                    lambda spec=spec: service_ready(spec, self._http),
                    spec.start_timeout,
                )
            )
        return units

    def _service_order(self) -> list[str]:
        """Callees before callers, so a caller's first calls find them up."""
        order: list[str] = []
        edges = self.system.spec.edges

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in order or name in path:
                return
            for e in edges:
                if e.source == name:
                    visit(e.target, path + (name,))
            order.append(name)

        for name in self.system.services:
            visit(name, ())
        return order

    def _unit(self, name: str) -> Unit:
        try:
            return self._units[name]
        except KeyError:
            raise SetupError(f"unknown unit '{name}' (known: {', '.join(self._units)})") from None

    def _fingerprint(self, unit: Unit) -> str:
        return hashlib.sha256(json.dumps([unit.command, unit.env, str(unit.cwd)]).encode()).hexdigest()[:16]

    # -- readiness ------------------------------------------------------------

    def _wait_ready(self, unit: Unit, record: Record) -> None:
        deadline = time.monotonic() + unit.start_timeout
        while time.monotonic() < deadline:
            if unit.ready():
                return
            if not is_ours(record):
                how = how_it_ended(record.pid)  # known when this process started it; a launcher writes it in the log
                raise SetupError(f"{unit.name} exited while starting{f' ({how})' if how else ''}; "
                                 f"last lines of {record.log}:\n{_tail(record.log)}")
            time.sleep(0.05)
        self.stop(unit.name)
        raise SetupError(f"{unit.name} was not ready after {unit.start_timeout:.0f} s; last lines of {record.log}:\n{_tail(record.log)}")

    def _toxiproxy_ready(self) -> bool:
        try:
            Toxiproxy(self.system.spec.toxiproxy.url, timeout=(0.2, 1.0)).version()
            return True
        except ToxiproxyError:
            return False

    def _foreign_toxiproxy(self) -> bool:
        """A Toxiproxy we did not start already answers at the URL: use it."""
        return self._toxiproxy_ready()

    def _populate_proxies(self) -> None:
        proxies = [p.model_dump() for p in self.system.proxies.values()]
        Toxiproxy(self.system.spec.toxiproxy.url).populate(proxies)

    # -- the state file -------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "local.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "local.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self._state_file.read_text()) if self._state_file.exists() else {}
            except json.JSONDecodeError:
                data = {}
            yield data
            tmp = self._state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2))
            tmp.replace(self._state_file)

    def _records(self) -> dict[str, Record]:
        if not self._state_file.exists():
            return {}
        try:
            data = json.loads(self._state_file.read_text())
        except json.JSONDecodeError:
            return {}
        return {name: Record(**raw) for name, raw in data.get("units", {}).items()}

    def _remember(self, record: Record) -> None:
        with self._locked() as data:
            data.setdefault("units", {})[record.name] = record.to_json()

    def _forget(self, name: str) -> None:
        with self._locked() as data:
            data.setdefault("units", {}).pop(name, None)


def _stop_together(records: list[Record]) -> None:
    """SIGTERM every record's process group at once, then wait up to
    STOP_GRACE for them all; SIGKILL a group still there by then."""
    for record in records:
        signal_group(record, signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for record in records:
        if not wait_gone(record, max(0.0, deadline - time.monotonic())):
            signal_group(record, signal.SIGKILL)
            wait_gone(record, 5.0)


_LAUNCHERS: list[subprocess.Popen] = []  # ended launchers are collected here, not left as zombies


def reap_launchers() -> None:
    """Collect the launchers whose units have all ended."""
    _LAUNCHERS[:] = [proc for proc in _LAUNCHERS if proc.poll() is None]


class Launcher:
    """A chaos.launcher process for one up(): it imports the preloaded
    modules as soon as it starts, then forks each unit asked for."""

    def __init__(self, cwd: Path, preload: list[str], system: System):
        self.system = system
        self.preload = preload
        self._ready = False
        # One `chaos` started already, before its own imports (chaos.launcher.prepare_for)?
        self.proc = take_prepared(str(cwd), preload)
        if self.proc is None:
            # By its file, not `-m chaos.launcher`: the toolkit need not be
            # importable from the units' folder. It puts that folder first on
            # its path itself, as `python -m` does for the units.
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve().parent.parent / "launcher.py")],
                cwd=cwd, env=dict(os.environ), stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
            )
            self._send({"preload": preload})

    def spawn(self, argv: list[str], env: dict[str, str], log: Path) -> int:
        if not self._ready:
            reply = self._receive()
            if "error" in reply:
                # A module that does not import is known only now: each is
                # imported here, by this interpreter, and by nothing else.
                loc = self._where(reply.get("module"))
                if self.system.source is not None:
                    raise self.system.source.error(loc, reply["error"])
                raise ConfigError(self.system.path, None, ".".join(map(str, loc)), reply["error"])
            self._ready = True
        self._send({"argv": argv, "env": env, "log": str(log)})
        return int(self._receive()["pid"])

    def _where(self, module: str | None) -> tuple[str | int, ...]:
        """The field that asked this launcher for `module`: local.preload, or a service's own."""
        lists = [(("local", "preload"), self.system.spec.local.preload)]
        lists += [(("services", name, "preload"), spec.preload) for name, spec in self.system.services.items() if spec.preload is not None]
        for loc, modules in lists:
            if list(modules) == self.preload:
                return (*loc, modules.index(module)) if module in modules else loc
        return ("local", "preload")

    def close(self) -> None:
        """No more units to start: the launcher stays as their parent until
        they end (chaos/launcher.py); this process collects it once it has
        (reap_launchers), without waiting for it."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.stdout.close()  # type: ignore[union-attr]
        _LAUNCHERS.append(self.proc)
        reap_launchers()

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # it has ended: _receive says how

    def _receive(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SetupError(f"the launcher of {self.system.path}'s local.preload ended (status {self.proc.wait()}); "
                             "its error is above")
        return json.loads(line)


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
