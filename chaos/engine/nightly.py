"""The nightly resilience job: every scenario, REPEAT times, judged together.

One nightly writes reports/nightly/<time>/ with the run folder of every run
(runs/), one combined junit.xml, summary.json, summary.md (for a CI job's
summary page) and index.html linking each run's report. A scenario is

- "pass"  when every repeat passed,
- "fail"  when every repeat failed (or could not run: "error" when none ran),
- "flaky" when its repeats disagree. Flaky is red too: a breaker that
  protects the system only some nights does not protect it.

The nightly before is read from reports/nightly/latest.json (which CI keeps
between nightlies), each scenario's and check's change against it is
reported (regressed, fixed, new, ...), and latest.json is replaced.
The engine takes the function that runs one scenario as an argument, so its
bookkeeping is tested without starting anything.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.report import junit

GREEN = "pass"


@dataclass
class RunRecord:
    """What one run of one scenario left: its verdicts, or why it could not run."""

    scenario: str
    repeat: int  # 1-based
    status: str  # "pass", "fail" (a check failed or could not tell) or "error" (it could not run)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    wall_time: float = 0.0
    started: float = 0.0
    run_dir: str | None = None
    error: str = ""

    @classmethod
    def from_folder(cls, run_dir: Path, repeat: int = 1) -> "RunRecord":
        """Read back a run folder the runner wrote (verdicts.json and run.json)."""
        verdicts = json.loads((run_dir / "verdicts.json").read_text())
        info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
        return cls(verdicts["scenario"], repeat, "pass" if verdicts["passed"] else "fail", verdicts["verdicts"],
                   verdicts.get("wall_time_s", 0.0), info.get("started_at", 0.0), str(run_dir))


RunOne = Callable[[str, int, Path], RunRecord]


def scenario_status(records: Sequence[RunRecord]) -> str:
    """pass, fail, flaky or error over a scenario's repeats (see the module docstring)."""
    statuses = {r.status for r in records}
    if statuses == {"pass"}:
        return "pass"
    if "pass" in statuses:
        return "flaky"
    return "error" if statuses == {"error"} else "fail"


def _by_scenario(records: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for r in records:
        out.setdefault(r.scenario, []).append(r)
    return out


def _check_outcomes(runs: Sequence[RunRecord]) -> dict[str, list[junit.Outcome]]:
    """Each check's outcome in every run that got as far as judging, by title."""
    out: dict[str, list[junit.Outcome]] = {}
    for r in runs:
        for v in r.verdicts:
            out.setdefault(v["check"], []).append(junit.Outcome(v["status"], v["evidence"], f"run {r.repeat}"))
    return out


def summarize(records: Sequence[RunRecord], previous: dict[str, Any] | None = None, **about: Any) -> dict[str, Any]:
    """The nightly's results as JSON-ready data, with the changes against `previous`."""
    scenarios = {}
    for name, runs in _by_scenario(records).items():
        scenarios[name] = {
            "status": scenario_status(runs),
            "checks": {title: junit.case_status(outs) for title, outs in _check_outcomes(runs).items()},
            "runs": [asdict(r) for r in runs],
        }
    summary = {**about, "scenarios": scenarios, "passed": all(s["status"] == GREEN for s in scenarios.values())}
    summary["changes"] = changes(previous, summary)
    return summary


def changes(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[dict[str, str]]:
    """What changed since the previous nightly, regressions first: per scenario
    (regressed, fixed, changed, new, gone) and per check that changed status."""
    if not previous:
        return []
    before, now = previous.get("scenarios", {}), current["scenarios"]
    out = []
    for name, s in now.items():
        old = before.get(name)
        if old is None:
            out.append({"scenario": name, "change": "new", "was": "", "now": s["status"]})
            continue
        if old["status"] != s["status"]:
            kind = "regressed" if old["status"] == GREEN else "fixed" if s["status"] == GREEN else "changed"
            out.append({"scenario": name, "change": kind, "was": old["status"], "now": s["status"]})
        for check, status in s["checks"].items():
            was = old.get("checks", {}).get(check)
            if was is not None and was != status:
                kind = "regressed" if was == GREEN else "fixed" if status == GREEN else "changed"
                out.append({"scenario": name, "check": check, "change": kind, "was": was, "now": status})
    out += [{"scenario": name, "change": "gone", "was": old["status"], "now": ""} for name, old in before.items() if name not in now]
    order = {"regressed": 0, "changed": 1, "new": 2, "fixed": 3, "gone": 4}
    return sorted(out, key=lambda c: order[c["change"]])


def combined_junit(records: Sequence[RunRecord], path: Path, properties: dict[str, Any] | None = None) -> None:
    """One suite a scenario, one case a check over all its repeats (see chaos.report.junit);
    a run that could not start is a failing "scenario runs" case."""
    suites = []
    for name, runs in _by_scenario(records).items():
        cases = [junit.testcase(f"chaos.{name}", title, outs) for title, outs in _check_outcomes(runs).items()]
        if any(r.status == "error" for r in runs):
            ran = [junit.Outcome("fail" if r.status == "error" else "pass", r.error or "ran", f"run {r.repeat}") for r in runs]
            cases.insert(0, junit.testcase(f"chaos.{name}", "scenario runs", ran))
        props = {**(properties or {}), "status": scenario_status(runs), "repeats": len(runs),
                 **{f"run.{r.repeat}": r.run_dir or r.error for r in runs}}
        suites.append(junit.testsuite(name, cases, sum(r.wall_time for r in runs), min(r.started for r in runs) or time.time(), props))
    junit.write(path, suites, "flask-chaos nightly")


class Nightly:
    """Runs every scenario `repeat` times through `run_one` and writes the results under `root`."""

    def __init__(self, scenarios: Sequence[str], repeat: int, run_one: RunOne, root: Path,
                 say: Callable[[str], None] = print, **about: Any):
        if repeat < 1:
            raise ValueError("repeat must be 1 or more")
        self.scenarios = list(scenarios)
        self.repeat = repeat
        self.run_one = run_one
        self.root = root
        self.say = say
        self.about = about

    def run(self) -> dict[str, Any]:
        """Run everything; returns the summary (its "passed" is the nightly's verdict)."""
        began = time.time()
        out = self.root / time.strftime("%Y%m%d-%H%M%S")
        for n in range(2, 100):  # two nightlies in one second (tests, a quick retry) must not share a folder
            if not out.exists():
                break
            out = self.root / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}"
        runs_dir = out / "runs"
        records = []
        total = len(self.scenarios) * self.repeat
        try:
            for i in range(self.repeat):
                for name in self.scenarios:  # all scenarios, then all again: a repeat is a fresh pass over the library
                    self.say(f"\n=== nightly {len(records) + 1}/{total}: {name}, repeat {i + 1} of {self.repeat} ===")
                    records.append(self.run_one(name, i + 1, runs_dir))
        except KeyboardInterrupt:
            # Ctrl-C, or a CI job's cancel: the runs done so far are kept
            # and written (an hour of a soak is not thrown away), marked as
            # cut short, never passed, and not the next nightly's baseline.
            if records:
                self.write(records, out, time.time() - began, interrupted=f"after {len(records)} of {total} runs")
            raise
        return self.write(records, out, time.time() - began)

    def write(self, records: Sequence[RunRecord], out: Path, wall_time: float, interrupted: str | None = None) -> dict[str, Any]:
        """Write the combined results of `records` into `out` and replace
        latest.json; a nightly `interrupted` (saying when) has not passed,
        is compared with nothing and leaves latest.json alone."""
        from chaos.report.index import nightly_index, nightly_markdown

        out.mkdir(parents=True, exist_ok=True)
        latest = self.root / "latest.json"
        previous = json.loads(latest.read_text()) if latest.exists() and not interrupted else None
        for r in records:  # links relative to the nightly's folder, so the folder can be moved (a CI artifact)
            if r.run_dir and Path(r.run_dir).is_relative_to(out):
                r.run_dir = str(Path(r.run_dir).relative_to(out))
        summary = summarize(records, previous, started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                            repeat=self.repeat, wall_time_s=round(wall_time, 1), folder=str(out),
                            previous_folder=previous.get("folder", "") if previous else "", **self.about,
                            **({"interrupted": interrupted} if interrupted else {}))
        if interrupted:
            summary["passed"] = False
        combined_junit(records, out / "junit.xml", {k: v for k, v in self.about.items() if isinstance(v, (str, int))})
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        (out / "summary.md").write_text(nightly_markdown(summary))
        (out / "index.html").write_text(nightly_index(summary), encoding="utf-8")
        if not interrupted:
            latest.write_text(json.dumps(summary, indent=2))
        self._report(summary, out)
        return summary

    def _report(self, summary: dict[str, Any], out: Path) -> None:
        self.say("\nnightly results")
        for name, s in summary["scenarios"].items():
            runs = " ".join(r["status"] for r in s["runs"])
            self.say(f"  {s['status'].upper():<7} {name:<24} runs: {runs}")
        for c in summary["changes"]:
            what = f"{c['scenario']}" + (f" / {c['check']}" if c.get("check") else "")
            self.say(f"  {c['change']:<9} {what}: {c['was'] or '-'} -> {c['now'] or '-'}")
        if summary.get("interrupted"):
            self.say("  cut short: not compared with the previous nightly")
        elif not summary["changes"]:
            self.say("  no change since the previous nightly" if summary.get("previous_folder") else "  no previous nightly to compare with")
        green = sum(s["status"] == GREEN for s in summary["scenarios"].values())
        cut = f"INTERRUPTED {summary['interrupted']}: " if summary.get("interrupted") else ""
        self.say(f"\nnightly: {cut}{green} passed, {len(summary['scenarios']) - green} failed; "
                 f"index {out / 'index.html'}, JUnit {out / 'junit.xml'}")


def scenario_runner(system: Any, runtime: Any, console_for: Callable[[Any], Any], options: Any) -> RunOne:
    """The real RunOne: load the scenario, run it, and leave the system up for the next."""
    from chaos.errors import ConfigError, SetupError
    from chaos.engine.runner import Runner
    from chaos.spec.scenario import find_scenario, load_scenario, user_env

    def run_one(name: str, repeat: int, reports: Path) -> RunRecord:
        started = time.time()
        try:
            scenario = load_scenario(find_scenario(name, system), system, env=user_env())
        except ConfigError as e:  # one broken file must not stop the whole nightly
            return RunRecord(name, repeat, "error", started=started, error=f"invalid scenario: {e}")
        console = console_for(scenario)
        console.t0 = None  # the plain console is shared: its times must not run on from the last scenario
        try:
            result = Runner(system, scenario, runtime, console, reports=reports, options=options).run(keep_up=True)
            console.verdicts(result.verdicts)
            console.say(f"{name}: {'PASSED' if result.passed else 'FAILED'} in {result.wall_time:.1f} s; "
                        f"report {result.run_dir / 'report.html' if result.run_dir else '-'}")
        except SetupError as e:
            return RunRecord(name, repeat, "error", started=started, wall_time=time.time() - started, error=f"set-up failed: {e}")
        finally:
            console.close()
        return RunRecord(name, repeat, "pass" if result.passed else "fail", [asdict(v) for v in result.verdicts],
                         result.wall_time, started, str(result.run_dir) if result.run_dir else None)

    return run_one


@contextlib.contextmanager
def stack_kept_up(runtime: Any, units: Sequence[str]) -> Iterator[None]:
    """Runs inside keep the system up between scenarios (each run still restores
    it to clean first); afterwards it is stopped unless it was up before."""
    from chaos.runtime import Status

    was_up = all(runtime.status(u) is Status.RUNNING for u in units)
    try:
        yield
    finally:
        if not was_up:
            runtime.down()
