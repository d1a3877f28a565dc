"""The engine side of the demo: the system up under steady load, the
presenter's actions applied and recorded, and everything rolled back at the end.

A demo session is a run without a script: the same parts as a scenario run
(the runtime's `up`, the load generator, the breaker watcher, the fault
registry, `restore`) and one history, into which every button's action goes
as a `FaultEvent` like a scenario's faults. Leaving the demo (Ctrl-C,
SIGTERM, the stop button) reverts every action, puts breakers back as they
were, closes breakers left open and stops what the demo started.

A library scenario started from the page runs in the thread that called
`serve()` (the main thread under `chaos demo`), through the ordinary Runner,
so an interrupt during it takes the Runner's own rollback path first.
"""

from __future__ import annotations

import itertools
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.checks import outcome
from chaos.clients.agent import Agents
from chaos.clients.toxiproxy import Toxiproxy
from chaos.dashboard.controls import Control, catalogue
from chaos.dashboard.scenario import ScenarioConsole, ScenarioRun
from chaos.engine.observe import BreakerWatcher
from chaos.engine.restore import restore
from chaos.errors import ConfigError, SetupError
from chaos.faults import FaultContext, Handle
from chaos.history import FaultEvent, History, Mark, Transition
from chaos.runtime import TOXIPROXY, Runtime, Status, runtime_for
from chaos.spec.options import RunOptions
from chaos.spec.scenario import find_scenario, list_scenarios, load_scenario
from chaos.spec.system import System

LOAD_TIMEOUT = 3.0  # the load client's own timeout, as a scenario's default
BREAKERS_FAULT = "breakers_off"  # the kind a breakers-off window is recorded under


class ActionError(Exception):
    """A button that cannot be pressed now (unknown, already on, a scenario
    running); the page shows the message."""


@dataclass
class Active:
    """An action in force: what to revert, and since when."""

    index: int
    label: str
    kind: str
    description: str
    targets: tuple[str, ...]
    since: float
    handle: Handle | None  # None for breakers off (reverted by restarting)


class DemoSession:
    """One demo: start it, `serve()` until stopped, `close()` always."""

    def __init__(self, system: System, runtime_kind: str = "local", state_dir: Path | None = None, rate: float = 30.0,
                 breakers: str = "on", reports: Path = Path("reports"), say: Callable[[str], None] = print):
        self.system = system
        self.runtime_kind = runtime_kind
        self.state_dir = state_dir
        self.rate = rate
        self.initial_breakers = breakers
        self.breakers = breakers
        self.reports = reports
        self.say = say
        self.runtime: Runtime = runtime_for(system, runtime_kind, breakers, state_dir)
        self.toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
        self.agents = Agents(system, self.runtime.agent_token, self.runtime.logs)
        self.history = History()
        self.run_id = uuid.uuid4().hex[:8]
        self.controls: dict[str, Control] = catalogue(system)
        self.scenarios = list_scenarios(system) if system.scenarios_dir.is_dir() else []
        self.active: dict[str, Active] = {}
        self.scenario: ScenarioRun | None = None
        self.started_at = time.time()
        self.changed = threading.Event()  # set on any change the page should see at once
        self._counter = itertools.count()
        self._lock = threading.RLock()  # one action at a time: a kill and its revert never interleave
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stopping = threading.Event()
        self._in_job = False
        self._load: Any = None
        self._watcher: BreakerWatcher | None = None
        self._was_up = False
        self._closed = False

    # -- life -----------------------------------------------------------------

    def start(self) -> None:
        """Bring the system up clean (every breaker closed), watch its
        breakers and start the steady load. SetupError if it cannot."""
        units = [TOXIPROXY, *self.system.services]
        self._was_up = all(self.runtime.status(u) is Status.RUNNING for u in units)
        done = restore(self.system, self.runtime, self.toxiproxy, breakers=True, say=self.say)
        for line in done.lines():
            self.say(line)
        self._watcher = BreakerWatcher(self.system, self.history, self._on_transition, self.agents)
        self._watcher.start()
        self.history.append(Mark("run-start", time.time(), {"scenario": "demo", "run_id": self.run_id}))
        self._start_load()

    def serve(self) -> None:
        """Run what the page queued (library scenarios) until `stop()`;
        KeyboardInterrupt (Ctrl-C, SIGTERM through the CLI) ends it too."""
        while not self._stopping.is_set():
            try:
                job = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            self._in_job = True
            try:
                job()
            finally:
                self._in_job = False

    def stop(self) -> None:
        """Ask `serve()` to end (the stop button). A scenario in progress is
        interrupted as Ctrl-C would: its own rollback runs first."""
        self._stopping.set()
        if self._in_job:
            # A real SIGINT (not _thread.interrupt_main) also cuts short the sleep the runner waits in.
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def close(self) -> list[str]:
        """Roll everything back, whatever state the demo is in; never raises.
        Returns what was done, in words. Safe to call twice."""
        if self._closed:
            return []
        self._closed = True
        self._stopping.set()
        notes: list[str] = []
        in_main = threading.current_thread() is threading.main_thread()
        # A second Ctrl-C must not cut the rollback short (as in the Runner).
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
        try:
            with self._lock:
                self._stop_load()
                for key in list(self.active):
                    try:
                        notes.append(self._revert(key))
                    except Exception as e:  # noqa: BLE001 - keep rolling back the rest
                        notes.append(f"reverting {key} failed: {e}; restoring the whole system")
                if self._was_up and self.breakers != self.initial_breakers:
                    try:
                        self._switch(self.initial_breakers)  # as the demo found them
                        notes.append(f"breakers {self.initial_breakers} again")
                    except Exception as e:  # noqa: BLE001
                        notes.append(f"putting breakers {self.initial_breakers} again failed: {e}")
                self.history.append(Mark("run-end", time.time()))
                try:
                    # Breakers are closed by restarting; not worth it for a system about to stop.
                    done = restore(self.system, self.runtime, self.toxiproxy, breakers=self._was_up)
                    notes += done.lines()
                except Exception as e:  # noqa: BLE001
                    notes.append(f"restore failed: {e}")
                if self._watcher is not None:
                    self._watcher.stop()
                if not self._was_up:
                    notes.append(f"stopped {', '.join(self.runtime.down()) or 'nothing'}")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.changed.set()
        return notes

    @property
    def stopping(self) -> bool:
        """Whether the demo is on its way out (the page says so)."""
        return self._stopping.is_set()

    # -- the buttons ----------------------------------------------------------

    def apply(self, control_id: str) -> str:
        """Apply one control's fault and record it; returns what it did.
        ActionError if it is unknown, already on, or a scenario is running."""
        with self._lock:
            self._idle()
            control = self.controls.get(control_id)
            if control is None:
                raise ActionError(f"no control '{control_id}' (known: {', '.join(self.controls)})")
            if control_id in self.active:
                raise ActionError(f"{control.label} is already on")
            fault = control.fault
            ctx = FaultContext(self.system, self.runtime, self.toxiproxy, self.history, self.run_id, self.agents)
            started = time.time()
            handle = fault.apply(ctx)
            index = next(self._counter)
            targets = tuple(sorted(fault.targets(self.system)))
            self.active[control_id] = Active(index, control.label, fault.kind, fault.describe(), targets, started, handle)
            self.history.append(FaultEvent(index, "start", fault.kind, fault.describe(), targets, started))
            self.changed.set()
            return fault.describe()

    def revert(self, control_id: str) -> str:
        """Revert one control's fault and record its end; returns what was done."""
        with self._lock:
            self._idle()
            if control_id not in self.active:
                raise ActionError(f"'{control_id}' is not on")
            return self._revert(control_id)

    def revert_all(self) -> str:
        """Revert every action in force, breakers off included; returns what was done."""
        with self._lock:
            self._idle()
            keys = sorted(self.active, key=lambda k: k == BREAKERS_FAULT)  # faults first, then breakers back on
            notes = [self._revert(key) for key in keys]
            return "; ".join(notes) or "nothing to revert"

    def set_breakers(self, wanted: str) -> str:
        """Restart every service with its breakers `wanted` ("on" or "off"),
        through the runtime's `up` (it starts afresh what runs with another
        configuration). Every action in force is reverted first: a restart
        would undo a kill or a pause behind the page's back."""
        if wanted not in ("on", "off"):
            raise ActionError(f"breakers must be on or off, not '{wanted}'")
        with self._lock:
            self._idle()
            if wanted == self.breakers:
                return f"breakers are already {wanted}"
            notes = [self._revert(key) for key in [k for k in self.active if k != BREAKERS_FAULT]]
            self._switch(wanted)
            now = time.time()
            if wanted == "off":
                description = "breakers off: every service restarted with CHAOS_BREAKERS=off"
                index = next(self._counter)
                self.active[BREAKERS_FAULT] = Active(index, "breakers off", BREAKERS_FAULT, description, (), now, None)
                self.history.append(FaultEvent(index, "start", BREAKERS_FAULT, description, (), now))
            else:
                off = self.active.pop(BREAKERS_FAULT, None)
                if off is not None:
                    self.history.append(FaultEvent(off.index, "end", off.kind, off.description, (), now,
                                                   "every service restarted with its breakers on"))
            self.changed.set()
            return "; ".join([*notes, f"breakers {wanted}"])

    def queue_scenario(self, name: str) -> str:
        """Queue a library scenario to run now (in `serve()`'s thread).
        ActionError if it is unknown, invalid or cannot run on this runtime."""
        with self._lock:
            self._idle()
            if name not in self.scenarios:
                raise ActionError(f"no scenario '{name}' (known: {', '.join(self.scenarios)})")
            try:
                scenario = load_scenario(find_scenario(name, self.system), self.system)
                scenario.check_runtime(self.runtime_kind)
            except ConfigError as e:
                raise ActionError(str(e)) from None
            self.scenario = ScenarioRun(name, scenario.duration, time.time())
            self._jobs.put(lambda: self._run_scenario(scenario))
            self.changed.set()
            return f"running {name} ({scenario.duration:g} s)"

    def save(self) -> Path:
        """Write the session so far as a normal run folder (history, an empty
        verdict list, run.json, JUnit XML, logs, report.html); returns it."""
        from chaos.report import versions, write_run_folder  # plotly: only when saving

        with self._lock:
            now = time.time()
            history = History([*self.history, Mark("run-end", now)]) if not self.history.mark("run-end") else self.history
            info = session_info(self.run_id, self.started_at, now - self.started_at, self.breakers, self.runtime_kind,
                                versions(self.toxiproxy), self.system.path)
            run_dir = self.reports / f"{time.strftime('%Y%m%d-%H%M%S')}-demo-{self.run_id}"
            write_run_folder(run_dir, history, [], info)
            return run_dir

    # -- inside ---------------------------------------------------------------

    def _idle(self) -> None:
        if self.scenario is not None and self.scenario.outcome == "running":
            raise ActionError(f"scenario {self.scenario.name} is running: wait for its verdicts")
        if self._closed or self._stopping.is_set():
            raise ActionError("the demo is stopping")

    def _revert(self, key: str) -> str:
        act = self.active.pop(key)
        began = time.time()
        if act.handle is None:  # breakers off: back on
            self._switch("on")
            note = "every service restarted with its breakers on"
        else:
            note = act.handle.revert()
        self.history.append(FaultEvent(act.index, "end", act.kind, act.description, act.targets, time.time(), note,
                                       reverting_since=began))
        self.changed.set()
        return note

    def _switch(self, wanted: str) -> None:
        runtime = runtime_for(self.system, self.runtime_kind, wanted, self.state_dir)
        restarted = runtime.up()
        self.runtime = runtime
        self.breakers = wanted
        self.history.append(Mark("breakers", time.time(), {"breakers": wanted, "restarted": restarted}))

    def _start_load(self) -> None:
        from chaos.engine.load import LoadGenerator  # aiohttp: only once the system is up

        mix = {route: 1 for route in self.system.routes}
        self._load = LoadGenerator(self.system, mix, self.rate, LOAD_TIMEOUT, self.history, seed=int(time.time()))
        self.history.append(Mark("load-start", time.time(), {"rate": self.rate}))
        self._load.start()

    def _stop_load(self) -> None:
        if self._load is not None:
            self._load.stop()
            self._load = None
            self.history.append(Mark("load-stop", time.time()))

    def _run_scenario(self, scenario: Any) -> None:
        from chaos.engine.runner import Runner

        run = self.scenario
        assert run is not None
        with self._lock:
            notes = [self._revert(key) for key in list(self.active) if key != BREAKERS_FAULT]
            self._stop_load()  # the scenario brings its own load
        self.history.append(Mark("scenario-start", time.time(), {"scenario": scenario.name, "reverted": notes}))
        console = ScenarioConsole(run, self.changed.set)
        runner = Runner(self.system, scenario, self.runtime, console, reports=self.reports,
                        options=RunOptions(self.breakers, self.runtime_kind))
        run.history = runner.history
        try:
            result = runner.run(keep_up=True)
            console.verdicts(result.verdicts)
            run.run_dir = str(result.run_dir) if result.run_dir else None
            run.outcome = outcome(result.verdicts)
        except SetupError as e:
            run.outcome = f"could not run: {e}"
        except KeyboardInterrupt:
            run.outcome = "interrupted"
            self._stopping.set()  # the demo ends with it: no load restarted only to be stopped
            raise
        finally:
            self.history.append(Mark("scenario-end", time.time(), {"scenario": scenario.name, "outcome": run.outcome,
                                                                    "run_dir": run.run_dir}))
            if not self._stopping.is_set():
                self._start_load()
            self.changed.set()

    def _on_transition(self, t: Transition) -> None:
        self.changed.set()


def session_info(run_id: str, started: float, wall_time: float, breakers: str, runtime: str,
                 found_versions: dict[str, str], system_path: Path) -> dict[str, Any]:
    """run.json of a saved demo session: the keys chaos.report.run_info
    writes for a scenario, for a session that had no scenario file."""
    import datetime

    return {
        "scenario": "demo",
        "description": "A live demo session: every action pressed on the dashboard, with the load and breakers it moved.",
        "run_id": run_id,
        "started": datetime.datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "started_at": started,
        "wall_time_s": round(wall_time, 2),
        "passed": True,  # nothing was judged: no check, nothing failed
        "breakers": breakers,
        "runtime": runtime,
        "seed": 0,
        "parameters": {},
        "source_path": "",
        "source": "",
        "versions": found_versions,
        "system_path": str(Path(system_path).resolve()),
    }
