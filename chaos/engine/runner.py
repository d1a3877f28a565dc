"""Running one scenario: set up, act and record, roll back, judge.

Rollback always happens: every applied fault is reverted and every unit is
running again, whether the run ends normally, a step raises, or the user
presses Ctrl-C (SIGTERM is turned into the same path by the CLI). A runner
killed outright (SIGKILL) cannot roll back; the next run's `restore` does:
it cleans every proxy of the system and starts or thaws every unit.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from chaos.checks import Verdict, evaluate_all
from chaos.ui.console import Console
from chaos.faults import Fault, FaultContext, Handle, is_instant
from chaos.clients.agent import Agents
from chaos.errors import SetupError
from chaos.history import BreakerInfo, FaultEvent, History, Mark, Observation, WorkerViews
from chaos.history.queries import delivery_summary
from chaos.engine.observe import BreakerWatcher
from chaos.report import LogMarks, run_info, versions, write_run_folder
from chaos.runtime import Replicated, Runtime, Status
from chaos.spec.options import RunOptions
from chaos.spec.scenario import Scenario
from chaos.spec.system import System
from chaos.engine.load_process import Load, discard as discard_load, prepare as prepare_load
from chaos.engine.pressure import PressureSampler
from chaos.engine.readback import read_back
from chaos.engine.restore import restore
from chaos.engine.interrupts import Interrupted
from chaos.clients.toxiproxy import Toxiproxy

STATS_EVERY = 2.0


@dataclass
class RunResult:
    scenario: str
    verdicts: list[Verdict]
    history: History
    wall_time: float
    run_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str = ""

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


def warm_up() -> threading.Thread:
    """Build the contract's validators in a thread of its own, so that it
    overlaps the set-up's waits on the network instead of adding to the run's
    time (the load generator's process is started by `chaos` itself, or by
    the run: chaos.engine.load_process)."""

    def work() -> None:
        from chaos.clients.agent import contract_problem

        for name in ("index", "breakers", "transitions", "assaults"):
            contract_problem(name, {})

    thread = threading.Thread(target=work, name="warm-up", daemon=True)
    thread.start()
    return thread


class Runner:
    def __init__(self, system: System, scenario: Scenario, runtime: Runtime, console: Console, reports: Path | None = None,
                 options: RunOptions | None = None):
        self.system = system
        self.options = options or RunOptions()
        self.versions: dict[str, str] | None = None
        self.scenario = scenario
        self.runtime = runtime
        self.console = console
        self.reports = reports
        self.toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
        self.history = History()
        self.agents = Agents(system, runtime.agent_token, runtime.logs)
        self.run_id = uuid.uuid4().hex[:8]
        self._handles: dict[int, Handle] = {}
        self._undone: str | None = None  # what the rollback of an interrupted run did, for its last line
        lacking = scenario.unapplied(system)
        if lacking:
            # Its services would run with other settings than the scenario was written for (and checked in).
            raise SetupError(f"{scenario.name} sets {', '.join(lacking)} for its services, but this system was not "
                             f"given them (run it with `chaos run`, which applies the scenario's system: block)")

    def run(self, keep_up: bool = False) -> RunResult:
        """Run the scenario and judge it. SetupError if the system cannot be
        brought up; Interrupted, saying what the rollback did, after Ctrl-C
        or SIGTERM."""
        try:
            return self._run(keep_up)
        except KeyboardInterrupt as e:
            if type(e) is not KeyboardInterrupt:
                raise  # Interrupted already, or a caller's own (chaos explore's budget)
            # _run rolled back and said how in _undone; without it the
            # interrupt came before _run's first step, which touched nothing.
            raise Interrupted(self._undone or "before the run changed anything") from None

    def _unit_roots(self) -> list[int]:
        """The pids of the system's units' root processes, where the runtime
        knows them (the local runtime: each unit's process group leader; the
        Docker runtime: each container's main process, when this machine's
        /proc shows it); else none."""
        pid = getattr(self.runtime, "pid", None)
        if pid is None:
            return []
        return [p for p in (pid(name) for name in ["toxiproxy", *self.system.services]) if p]

    def _run(self, keep_up: bool) -> RunResult:
        began = time.time()
        logs: LogMarks | None = None
        was_up = True  # until known: stop nothing the run may not have started
        watcher: BreakerWatcher | None = None
        # How starved the machine was, and what the system's own units paid
        # for it (chaos.engine.pressure; the second weighs latency fails:
        # chaos.checks._machine).
        pressure = PressureSampler(self.history, roots=self._unit_roots)
        load = None
        versions_read: threading.Thread | None = None
        replicas = None
        interrupted = rolled_back = finished = False
        stopper: threading.Thread | None = None
        stopped: list[str] = []
        try:
            # From here on, a Ctrl-C takes the rollback path below, even
            # before the set-up began: the user was promised a restored system.
            logs = LogMarks(self.runtime, ["toxiproxy", *self.system.services])  # copy only this run's part of each log
            was_up = all(self.runtime.status(u) is Status.RUNNING for u in ["toxiproxy", *self.system.services])
            watcher = BreakerWatcher(self.system, self.history, self._on_transition, self.agents)
            prepare_load()  # its process imports what it needs while the set-up runs (chaos.engine.load_process)
            self._set_up()
            watcher.start()
            pressure.start()
            if isinstance(self.runtime, Replicated):  # replica events from the engine, for checks of replacement
                replicas = self.runtime.watch_replicas(self.history)
            self._check_switch()
            self.history.append(Mark("run-start", time.time(), {"scenario": self.scenario.name, "run_id": self.run_id}))
            load = Load(
                self.system, self.scenario.mix(self.system), self.scenario.load.rate, self.scenario.load.timeout,
                self.history, self.scenario.seed, max_lag=self.scenario.load.max_lag,
            )
            load.start()
            # The scenario's clock starts with the load's first request (its
            # process may still have been importing when asked to start).
            t0 = load.started_at
            self.console.t0 = t0
            self.history.append(Mark("load-start", t0, {"rate": self.scenario.load.rate}))
            if self.versions is None:
                # For run.json only; read while the load runs, not before it
                # (package metadata is parsed from files: ~50 ms).
                versions_read = threading.Thread(target=self._read_versions, name="versions", daemon=True)
                versions_read.start()
            self.console.line("load", f"{self.scenario.load.rate:g} req/s to {self.system.spec.entrypoint}: "
                              + ", ".join(f"{r} {w}" for r, w in self.scenario.mix(self.system).items()))
            self._timeline(t0)
            load.stop()
            if load.delivery is not None:
                self.console.line("load", delivery_summary(load.delivery))
            load = None
            self.history.append(Mark("load-stop", time.time()))
            self._revert_all()
            # The read-back is the last of the scenario's own time; the rollback,
            # the breakers' final counters (the evidence `chaos advise` reads)
            # and the wait for promised messages need not wait for it, nor it for them.
            with ThreadPoolExecutor(max_workers=3, thread_name_prefix="after-load") as pool:
                stats = pool.submit(watcher.final_stats)
                rolled = pool.submit(self._rollback)
                delivered = pool.submit(self._collect_deliveries)
                n = read_back(self.system, self.history)
                stats.result()
                rolled.result()
                delivered.result()
            rolled_back = True
            self.console.line("check", f"read back {n} acknowledged writes")
            finished = True
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            # A second Ctrl-C or SIGTERM (the CLI turns it into the same interrupt) must not cut the rollback short.
            previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                if load is not None:
                    load.stop()
                discard_load()  # a generator prepared for a run that ended before its load
                if not rolled_back:
                    self._rollback(close_breakers=interrupted)
                if watcher is not None:
                    watcher.stop()
                pressure.stop()
                if replicas is not None:
                    replicas.stop()
                if not was_up and not keep_up:
                    if finished:
                        # Each unit's graceful stop takes a moment; judging and
                        # saving need none of them, so both go on meanwhile.
                        def stop_units() -> None:
                            try:
                                stopped.extend(self.runtime.down())
                            except Exception as e:  # noqa: BLE001 - said below, like a failed restore
                                stopped.append(f"(failed: {e})")

                        stopper = threading.Thread(target=stop_units, name="stop-units")
                        stopper.start()
                    else:
                        self.console.line("setup", f"stopping what this run started: {', '.join(self.runtime.down())}")
            finally:
                if stopper is None:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
        if versions_read is not None:
            versions_read.join(timeout=5.0)  # run.json says "unknown" for what it could not read by then
        try:
            self.history.append(Mark("run-end", time.time()))
            verdicts = evaluate_all(self.scenario.checks, self.history, self.system, self.scenario.mix(self.system))
            result = RunResult(self.scenario.name, verdicts, self.history, time.time() - began, run_id=self.run_id)
            assert logs is not None  # set before anything that could end the run without an exception
            result.run_dir = self._save(result, began, logs)
        finally:
            if stopper is not None:
                # Still deaf to Ctrl-C until every unit is stopped: the CLI
                # exits with os._exit, which would cut the stop short.
                stopper.join()
                self.console.line("setup", f"stopping what this run started: {', '.join(stopped)}")
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        return result

    # -- steps ----------------------------------------------------------------

    def _collect_deliveries(self) -> None:
        """For a scenario that checks deliveries: read its sinks once every
        promised message arrived or the check's bound passed."""
        bounds = [c.within for c in self.scenario.checks if c.kind == "deliveries"]  # type: ignore[attr-defined]
        if bounds:
            from chaos.engine.deliveries import collect

            collect(self.system, self.history, max(bounds), lambda s: self.console.line("check", s))

    def _set_up(self) -> None:
        self.console.line("setup", "starting Toxiproxy and services (if not running)")
        done = restore(self.system, self.runtime, self.toxiproxy, breakers=True, say=lambda s: self.console.line("setup", s))
        for line in done.lines():
            self.console.line("setup", line)

    def _check_switch(self) -> None:
        """SetupError when an agent says its breakers are not as the run asked:
        `--breakers off` that silently did nothing would prove nothing."""
        wanted = self.options.breakers == "on"
        for info in self.history.of(Observation):
            if not info.ok:
                self.console.line("setup", f"warning: {info.detail}; checks of its breakers will be unknown")
        seen = {i.breaker: i.enabled for i in self.history.of(BreakerInfo)}
        wrong = sorted(b for b, enabled in seen.items() if enabled != wanted)
        if wrong:
            raise SetupError(f"the run asked for breakers {self.options.breakers}, but the agents report "
                             f"{', '.join(wrong)} {'off' if wanted else 'on'}: is CHAOS_BREAKERS reaching those services?")

    def _timeline(self, t0: float) -> None:
        end = self.scenario.duration
        actions: list[tuple[float, int, str]] = []
        for i, fault in enumerate(self.scenario.faults):
            for start, stop in fault.windows(end):
                actions.append((start, i, "apply"))
                if not is_instant(fault) and stop < end:
                    actions.append((stop, i, "revert"))
        actions.sort(key=lambda a: (a[0], a[2] == "apply"))  # at one instant, revert before apply
        next_stats = STATS_EVERY
        for at, index, action in [*actions, (end, -1, "end")]:
            while (now := time.time() - t0) < at:
                wait = min(at, next_stats) - now
                if wait > 0:
                    time.sleep(wait)
                if time.time() - t0 >= next_stats:
                    self.console.stats(self.history, STATS_EVERY)
                    # After a step longer than the interval (a restart), catch up
                    # once: one line per tick that actually passed, not a burst.
                    while next_stats <= time.time() - t0:
                        next_stats += STATS_EVERY
            if action == "apply":
                self._apply(index, self.scenario.faults[index])
            elif action == "revert":
                self._revert(index)

    def _apply(self, index: int, fault: Fault) -> None:
        ctx = FaultContext(self.system, self.runtime, self.toxiproxy, self.history, self.run_id, self.agents)
        started = time.time()
        self.console.line("fault", fault.describe())
        self._handles[index] = fault.apply(ctx)
        self.history.append(FaultEvent(index, "start", fault.kind, fault.describe(), tuple(sorted(fault.targets(self.system))), started))
        if is_instant(fault):
            self._revert(index)  # over as soon as applied: record its end now

    def _revert(self, index: int) -> None:
        handle = self._handles.pop(index, None)
        if handle is None:
            return
        fault = self.scenario.faults[index]
        began = time.time()
        note = handle.revert()
        ended = time.time()
        self.history.append(FaultEvent(index, "end", fault.kind, fault.describe(), tuple(sorted(fault.targets(self.system))), ended, note,
                                       reverting_since=began))
        self.console.line("fault", f"ended: {note}", ended)

    def _revert_all(self) -> None:
        for index in sorted(self._handles):
            self._revert(index)

    def _rollback(self, close_breakers: bool = False) -> None:
        """Undo everything, whatever state the run was left in; report, never raise.
        With `close_breakers` (an interrupted run, whose user was promised a
        restored system) also restart services whose breakers the faults left
        open; a finished run leaves them to recover on their own, as its
        checks watched them do."""
        for index in sorted(self._handles):
            try:
                self._revert(index)
            except Exception as e:  # noqa: BLE001 - keep rolling back the rest
                self.console.line("setup", f"reverting fault {index} failed: {e}; restoring the whole system")
        self._handles.clear()
        try:
            done = restore(self.system, self.runtime, self.toxiproxy, breakers=close_breakers)
            if done.restarted_for_breakers:
                self.console.line("setup", f"restarted {', '.join(done.restarted_for_breakers)} to close breakers the faults left open")
            self._undone = "faults reverted, services restored"
        except Exception as e:  # noqa: BLE001
            self.console.line("setup", f"restore failed: {e}")
            why = (str(e).splitlines() or [type(e).__name__])[0]
            self._undone = f"faults reverted, but restoring the services failed ({why}); run `chaos reset`"

    def _on_transition(self, t) -> None:  # type: ignore[no-untyped-def]
        # Name the worker only where there are several: one process's pid is noise.
        many = t.worker is not None and any(len(v.live or {pid for _, pid, _ in v.views}) > 1 for v in self.history.of(WorkerViews))
        self.console.line("breaker", f"{t.breaker}  {t.old} -> {t.new}" + (f"  (worker {t.worker})" if many else ""), t.at)

    def _read_versions(self) -> None:
        self.versions = versions(self.toxiproxy)

    def _save(self, result: RunResult, began: float, logs: LogMarks) -> Path | None:
        if self.reports is None:
            return None
        run_dir = self.reports / f"{time.strftime('%Y%m%d-%H%M%S')}-{self.scenario.name}-{self.run_id}"
        info = run_info(self.scenario, self.run_id, began, result.wall_time, result.passed, self.options, self.versions,
                        system_path=self.system.path)
        write_run_folder(run_dir, result.history, result.verdicts, info, logs)
        return run_dir
