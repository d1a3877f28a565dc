"""`chaos explore`: Hypothesis draws fault schedules, each one runs for real,
and a violated property is shrunk to a minimal scenario file.

Each example is ordinary scenario data (`chaos.engine.schedules`), validated
by the scenario model and run by the usual runner on the live stack (which
restores it first: no toxic, every service up, every breaker closed), so it
leaves the usual run folder. Its checks are the system-wide properties; a
"fail" is a violation, an "unknown" is not (it is counted, with why).

Hypothesis drives the search (`@given` run from code): generation stops at
the first violation, which runs again before anything is spent shrinking it
(one that never fails again is flaky: listed, and generation goes on), then
it shrinks the schedule, keeping the property that was violated. Every
schedule's outcome is cached, so Hypothesis's own replay of its final
example costs nothing; the toolkit replays the written file itself instead,
from disk: a violation that passes there is flaky, not a find, and one whose
replays cannot tell (unknown) is unconfirmed, which is not a pass either. Failing examples are kept in Hypothesis's
example database (`.chaos/explore-db/`), so a rerun tries them first.

A wall-clock budget bounds generation and shrinking alike (an example that
would end past it is not started); shrinking is also bounded in runs. When
either ends the shrink, the smallest violating schedule so far is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos.engine import schedules as sch
from chaos.errors import ConfigError, SetupError
from chaos.runtime import TOXIPROXY, Runtime
from chaos.spec.options import RunOptions
from chaos.spec.overrides import ServiceOverride, SystemOverrides, applied
from chaos.spec.scenario import Scenario, load_scenario, scenario_from_data
from chaos.spec.system import System
from chaos.engine.explore_records import (  # noqa: F401 - re-exported: the engine's public records
    Example, ExploreOptions, ExploreResult, Finding, Flaky, again_fails,
)
from chaos.report.explore import replay_name, summary_lines, write_scenario
from chaos.ui.console import Console

# Examples that could not run, in a row, before exploring stops: the stack is broken, not the schedule.
MAX_ERRORS_IN_A_ROW = 3
# Replays of a written find while they cannot tell (an unknown verdict, e.g. load not delivered).
REPLAYS = 3
# Seconds an example costs beyond its scenario's duration (set-up, read-back, run folder), for the budget.
OVERHEAD = 2.0


class BudgetSpent(KeyboardInterrupt):
    """The budget (time or shrink runs) is spent. A KeyboardInterrupt because
    Hypothesis lets only that through untouched: any other exception raised
    by the test counts as a failure to shrink, and is saved to the database."""


class Aborted(KeyboardInterrupt):
    """Examples keep failing to run: the stack, not a schedule, is at fault.
    (A KeyboardInterrupt for the same reason as BudgetSpent.)"""


class Violation(Exception):
    """An example failed a property: what Hypothesis shrinks."""


class Explorer:
    """Explores one system (see the module docstring). `base` is the system
    file as loaded (ports moved, if asked); the explore settings of its
    `explore.env` are applied to every service that holds a breaker."""

    def __init__(self, base: System, options: ExploreOptions, console: Console,
                 make_runtime: Callable[[System], Runtime]):
        self.base = base
        self.options = options
        self.console = console
        self.catalogue = sch.catalogue(base, options.runtime)
        owners = sorted(base.breaker_owners()) if base.spec.explore.env else []
        self.overrides = SystemOverrides(services={o: ServiceOverride(env=dict(base.spec.explore.env)) for o in owners})
        self.system = applied(base, self.overrides)
        self.runtime = make_runtime(self.system)
        self.out = options.out or base.scenarios_dir / "found"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.index_dir = options.reports / "explore" / f"{stamp}-{base.name}-breakers-{options.breakers}"
        self.examples: list[Example] = []
        self.flaky: list[Flaky] = []
        self._cache: dict[str, Example] = {}
        self._target: set[str] | None = None
        self._best: Example | None = None
        self._first: Example | None = None
        self._shrink_runs = 0
        self._shrink_cut = False  # the budget ended shrinking before Hypothesis did
        self.spent = ""  # what ran out, when the budget stopped the search
        self._errors_in_a_row = 0
        self._began = 0.0
        self.profile = sch.Profile()

    # -- the search -------------------------------------------------------------

    def run(self) -> ExploreResult:
        """Explore until the budget, the example count or a violation (shrunk)
        ends it; write the finding and the index. SetupError if the stack
        cannot be brought up; KeyboardInterrupt (after rolling back) if interrupted."""
        from chaos.engine.nightly import stack_kept_up

        with stack_kept_up(self.runtime, [TOXIPROXY, *self.system.services]):
            self.profile = sch.Profile(reset_timeout=self._reset_timeout())
            self._began = time.monotonic()
            stopped = self._search()
            finding = self._finding()
            if finding is not None:
                self._write_and_replay(finding)
        elapsed = time.monotonic() - self._began
        result = ExploreResult(self.examples, finding, stopped, elapsed, self.index_dir, self.catalogue, self.profile, self.spent,
                               self.flaky)
        result.summary = summary_lines(result, self.options)
        self._write_index(result)
        return result

    def _search(self) -> str:
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
        from hypothesis.database import DirectoryBasedExampleDatabase

        strategy = sch.schedules(self.catalogue, self.profile)
        where = self.options.database or self.base.root / ".chaos" / "explore-db"
        db = DirectoryBasedExampleDatabase(str(where / self._db_key()))
        chosen = settings(
            max_examples=self.options.examples, deadline=None, database=db,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
            verbosity=Verbosity.quiet,
        )

        @chosen
        @given(strategy)
        def explore(faults: list[dict[str, Any]]) -> None:
            try:
                self._example(faults)
            except (Violation, KeyboardInterrupt):
                raise
            except Exception as e:  # noqa: BLE001 - a bug of ours: Hypothesis must not shrink it as a violation
                raise Aborted(f"chaos explore itself failed: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-4)}") from e

        if self.options.seed is not None:
            explore = seed(self.options.seed)(explore)
        try:
            explore()
        except Violation:
            return "found"
        except BudgetSpent as e:
            self.spent = str(e)
            return "budget"
        return "examples"

    def _db_key(self) -> str:
        """One database per system, catalogue, profile and breakers switch:
        ports are left out, so every port offset shares it."""
        what = {"system": self.base.name, "breakers": self.options.breakers, "catalogue": self.catalogue.signature(),
                "profile": asdict(self.profile), "env": dict(self.base.spec.explore.env)}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def _example(self, faults: list[dict[str, Any]]) -> None:
        """Run one schedule (or recall its outcome); raise Violation when it
        fails the property being shrunk (any property, before the first)."""
        key = json.dumps(faults, sort_keys=True)
        example = self._cache.get(key)
        if example is None:
            phase = "generate" if self._target is None else "shrink"
            data = self._data(faults, f"example-{len(self.examples) + 1:04d}")
            self._spend(phase, float(data["duration"].rstrip("s")))
            example = self._run(faults, data, phase)
            self._cache[key] = example
        if not example.failed or (self._target is not None and not self._target & set(example.failed)):
            return
        if self._target is None:
            self._target, self._first, self._best = set(example.failed), example, example
            if not self._confirmed(faults, example):
                example.status = "flaky"
                self._cache[key] = Example(example.number, example.phase, faults, "flaky", [], example.unknown)
                self._target = self._first = self._best = None
                return  # not a violation: generation goes on
        self._best = example
        raise Violation("; ".join(example.failed))

    def _confirmed(self, faults: list[dict[str, Any]], example: Example) -> bool:
        """Whether a first violation comes back when its schedule runs again
        (up to `confirm_runs` times), before any live run is spent shrinking
        it. One that does not is noise (a machine stall in a short window),
        recorded as flaky; generation goes on."""
        reruns: list[Example] = []
        for _ in range(self.options.confirm_runs):
            data = self._data(faults, f"example-{len(self.examples) + 1:04d}")
            self._spend("confirm", float(data["duration"].rstrip("s")))
            again = self._run(faults, data, "confirm")
            reruns.append(again)
            if again_fails(again, example.failed) == "fail":
                return True
        if not any(again_fails(r, example.failed) == "pass" for r in reruns):
            return True  # not rerun, or no rerun could tell: the final replay still judges it
        self.flaky.append(Flaky(faults, example.failed, example.number, [r.status for r in reruns]))
        return False

    def _spend(self, phase: str, duration: float) -> None:
        elapsed = time.monotonic() - self._began
        spent = None
        if elapsed + duration + OVERHEAD > self.options.budget:
            spent = f"budget of {self.options.budget:g} s spent ({elapsed:.0f} s used)"
        elif phase == "shrink" and self._shrink_runs >= self.options.max_shrink_runs:
            spent = f"{self._shrink_runs} shrink runs"
        if spent:
            self._shrink_cut = phase == "shrink"
            raise BudgetSpent(spent)
        if phase == "shrink":
            self._shrink_runs += 1

    def _data(self, faults: list[dict[str, Any]], name: str, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        description = f"chaos explore example: {sch.describe(faults)}."
        return sch.scenario_data(faults, self.base, self.profile, name, description, checks)

    def _run(self, faults: list[dict[str, Any]], data: dict[str, Any], phase: str) -> Example:
        number = len(self.examples) + 1
        try:
            scenario = scenario_from_data(data, self.base, name_for_messages=data["name"])
        except ConfigError as e:  # a strategy bug: say so loudly, never count it as a finding
            raise SetupError(f"chaos explore drew a schedule the scenario model refuses (a bug in chaos explore): {e}") from None
        example = self._execute(scenario, faults, number, phase)
        self.examples.append(example)
        self._progress(example)
        if example.status == "error":
            self._errors_in_a_row += 1
            if self._errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
                raise Aborted(f"{MAX_ERRORS_IN_A_ROW} examples in a row could not run; the last: {example.error}")
        else:
            self._errors_in_a_row = 0
        return example

    def _execute(self, scenario: Scenario, faults: list[dict[str, Any]], number: int, phase: str) -> Example:
        from chaos.engine.runner import Runner

        began = time.monotonic()
        quiet = Console(out=io.StringIO(), colour=False)  # one progress line per example instead
        try:
            result = Runner(scenario.system_for(self.base), scenario, self.runtime, quiet, reports=self.index_dir / "runs",
                            options=RunOptions(self.options.breakers, self.options.runtime)).run(keep_up=True)
        except SetupError as e:
            return Example(number, phase, faults, "error", error=str(e) or repr(e), wall_time=time.monotonic() - began,
                           at=time.monotonic() - self._began)
        failed = [v.check for v in result.verdicts if v.status == "fail"]
        unknown = [f"{v.check}: {v.evidence}" for v in result.verdicts if v.status == "unknown"]
        status = "fail" if failed else ("unknown" if unknown else "pass")
        return Example(number, phase, faults, status, failed, unknown, verdicts={v.check: v.status for v in result.verdicts},
                       run_dir=str(result.run_dir) if result.run_dir else None,
                       wall_time=time.monotonic() - began, at=time.monotonic() - self._began)

    def _progress(self, e: Example) -> None:
        used = min(1.0, e.at / self.options.budget) if self.options.budget else 1.0
        bar = "#" * round(used * 20) + "." * (20 - round(used * 20))
        what = {"pass": "pass", "unknown": "pass (some unknown)", "error": f"ERROR: {(e.error.splitlines() or [''])[0][:120]}",
                "fail": "VIOLATION: " + "; ".join(e.failed)}[e.status]
        if e.status == "fail" and e.phase == "shrink" and not (self._target or set()) & set(e.failed):
            what = "fails another property, not the one being shrunk: " + "; ".join(e.failed)
        self.console.say(f"[{bar}] {e.at:4.0f}/{self.options.budget:g} s  #{e.number:<3} {e.phase:<8} "
                         f"{sch.describe(e.faults)}  -> {what} ({e.wall_time:.1f} s)")

    def _reset_timeout(self) -> float:
        """The longest reset timeout any agent reports, with the explore
        settings applied (the stack is brought up for it); the profile's
        default when no agent reports one."""
        from chaos.clients.agent import Agents
        from chaos.clients.toxiproxy import Toxiproxy
        from chaos.engine.restore import restore

        restore(self.system, self.runtime, Toxiproxy(self.system.spec.toxiproxy.url), breakers=True)
        agents = Agents(self.system, self.runtime.agent_token, self.runtime.logs)
        found: list[float] = []
        for name in agents.services():
            client = agents.client(name)
            try:
                found += [float(b["reset_timeout"]) for b in client.breakers()["breakers"]]
            except Exception:  # noqa: BLE001 - an agent that cannot say leaves the default, said below
                pass
            finally:
                client.close()
        if not found:
            self.console.say(f"no agent reported a reset timeout; examples assume {self.profile.reset_timeout:g} s")
            return self.profile.reset_timeout
        return max(found)

    # -- after the search -------------------------------------------------------

    def _finding(self) -> Finding | None:
        if self._best is None or self._first is None:
            return None
        best, first = self._best, self._first
        violated = [t for t in best.failed if t in (self._target or set())]
        return Finding(best.faults, violated, first.number, round(first.at, 1), len(first.faults), self._shrink_runs,
                       not self._shrink_cut)

    def _write_and_replay(self, finding: Finding) -> None:
        """Write the smallest violating schedule as a scenario file with the
        checks it violated, load it back from disk and run it once more: a
        violation that comes back is a find; one that does not is flaky and
        its file goes to the index folder, not among the scenarios."""
        digest = hashlib.sha256(json.dumps([finding.faults, self.options.breakers], sort_keys=True).encode()).hexdigest()[:6]
        best = self._best
        assert best is not None
        checks = [c for c in self._checks_of(best) if c[0] in finding.violated]
        kind = checks[0][1]["kind"] if checks else "violation"  # the violated property names the file
        name = f"{kind.replace('_', '-')}-{digest}"
        data = self._data(finding.faults, name, [c[1] for c in checks])
        data["description"] = (
            f"Found by chaos explore with breakers {self.options.breakers}: {sch.describe(finding.faults)} "
            f"violates {', '.join(finding.violated)}. Shrunk in {finding.shrink_runs} runs"
            f"{'' if finding.shrink_complete else ' (cut short by the budget)'} from a schedule of {finding.first_size} "
            f"fault(s) (example {finding.first_example}, {finding.first_after_s:g} s into exploring)."
        )
        path = self.out / f"{name}.yaml"
        write_scenario(path, data, self.options.breakers, self.base.scenarios_dir)
        finding.path = str(path)
        finding.replay_as = replay_name(path, self.base.scenarios_dir)
        scenario = load_scenario(path, self.base)  # as `chaos run found/NAME` will read it
        for attempt in range(REPLAYS):
            self.console.say(f"replaying {path} from the file{f' (again: the last replay could not tell)' if attempt else ''} ...")
            replay = self._execute(scenario, finding.faults, len(self.examples) + 1, "replay")
            self.examples.append(replay)
            self._progress(replay)
            finding.replay = replay
            outcome = again_fails(replay, finding.violated)
            if outcome == "fail":
                finding.status = "reproduced"
                return
            if outcome == "pass":
                break
        # Passed on replay: flaky. Never told (e.g. load not delivered each time): unconfirmed.
        finding.status = "flaky" if outcome == "pass" else "unconfirmed"
        self.index_dir.mkdir(parents=True, exist_ok=True)
        moved = self.index_dir / f"{finding.status}-{name}.yaml"
        path.replace(moved)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only if nothing else is there: an empty found/ should not be left behind
        finding.path = str(moved)

    def _checks_of(self, example: Example) -> list[tuple[str, dict[str, Any]]]:
        """(title, check data) of every property the example was judged by."""
        data = self._data(example.faults, "example-0000")
        scenario = scenario_from_data(data, self.base)
        return [(c.title(), raw) for c, raw in zip(scenario.checks, data["checks"])]

    def _write_index(self, result: ExploreResult) -> None:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        body = {
            "system": str(self.base.path), "breakers": self.options.breakers, "seed": self.options.seed,
            "budget_s": self.options.budget, "max_examples": self.options.examples, "stopped_by": result.stopped_by,
            "elapsed_s": round(result.elapsed, 1), "profile": asdict(result.profile),
            "catalogue": {**result.catalogue.signature(), "left_out": dict(result.catalogue.left_out)},
            "finding": asdict(result.finding) if result.finding else None,
            "flaky": [asdict(f) for f in result.flaky],
            "examples": [asdict(e) for e in result.examples],
        }
        (self.index_dir / "index.json").write_text(json.dumps(body, indent=2))
        (self.index_dir / "summary.txt").write_text("\n".join(result.summary) + "\n")
