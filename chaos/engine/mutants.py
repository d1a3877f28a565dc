"""Mutation testing of a scenario library: does it catch the bugs teams ship?

A catalogue file names mutants: small unified-diff patches to the system
under test, each a resilience bug (no breaker on an edge, no read timeout, a
fallback that answers 500 ...), with the scenario and check expected to
catch it and why. For each mutant the engine copies the system file's folder
to a scratch folder, applies the patch there (never to the original), runs
each expected scenario with `chaos run` in a child process on ports of its
own, and judges the run from its exit code and verdicts.json:

- caught: exit 1, and every expected check FAILED with evidence matching
  the expected reason. Exit 2 (the run broke, e.g. the patched service did
  not start) is not a catch, nor is an "unknown": a check that could not see
  has not caught anything. Nor is a failure for another reason.
- the baseline: the same scenarios on an unpatched copy must pass, every
  repeat; otherwise a catch means nothing.
- not judged: a run whose expected check (or, in the baseline, whose only
  shortfall) is UNKNOWN because the load was not delivered has judged
  nothing: the machine fell behind, not the system or its checks. It is run
  again, up to RERUNS_UNJUDGED more times, and said so; one that stays so
  counts as not caught (or not passed) and is shown as NOT JUDGED, never as
  ESCAPED: calling it a miss would blame the scenario library for a stall.

A catalogue that is wrong (a field, a scenario or check it names, a patch
that no longer applies) is refused before anything runs, naming file, line
and field (exit 2 from the CLI). The toolkit knows the system only through
its system file and the catalogue: it imports nothing of the system.

Runs go through the `chaos` command rather than the runner in-process so
that each run is what a user's `chaos run` is (its own process, its own
state folder in the scratch copy, its exit code), and a run that breaks
cannot take the others down with it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field

from chaos.checks import not_judged
from chaos.errors import ConfigError, SetupError
from chaos.history.queries import NOT_DELIVERED
from chaos.spec.model import Model
from chaos.spec.scenario import find_scenario, load_scenario
from chaos.spec.source import Source, load_yaml, validate
from chaos.spec.system import System

# Never copied into a scratch folder: tools, environments, state and results
# are the toolkit's or the user's, not the system's, and can be large.
SKIP_NAMES = {".git", ".venv", "venv", ".tools", ".chaos", "reports", "node_modules", "__pycache__",
              ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist"}


class Catch(Model):
    """Where a mutant is expected to be caught."""

    scenario: str = Field(description="a scenario name (as `chaos run` takes it)")
    check: str = Field(min_length=1, description="the title of one of its checks, or a part of it")
    reason: str = Field(default="", description="a regular expression the failing check's evidence must match")

    @pydantic.field_validator("reason")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from None
        return value


class Mutant(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    patch: str = Field(description="the unified diff, relative to the catalogue; paths in it relative to the system file's folder")
    bug: str = Field(min_length=1, description="the bug, in one line")
    why: str = Field(min_length=1, description="why real teams ship it")
    caught_by: list[Catch] = Field(min_length=1)


class CatalogueSpec(Model):
    mutants: list[Mutant] = Field(min_length=1)
    copy_paths: list[str] | None = Field(default=None, alias="copy",
                                         description="what to copy, relative to the system file's folder (default: all of it but tools, state and results)")


@dataclass(frozen=True)
class Catalogue:
    path: Path
    spec: CatalogueSpec
    source: Source

    def patch_path(self, mutant: Mutant) -> Path:
        return (self.path.parent / mutant.patch).resolve()


def load_catalogue(path: Path, system: System, only: Iterable[str] = ()) -> Catalogue:
    """The catalogue at `path`, checked against `system`: every scenario and
    check it names exists, every patch applies to a copy of the system's
    folder. Raises ConfigError naming file, line and field otherwise."""
    source = load_yaml(path)
    spec = validate(CatalogueSpec, source)
    catalogue = Catalogue(path, spec, source)
    names = [m.name for m in spec.mutants]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise source.error(("mutants", i, "name"), f"mutant '{name}' is named twice")
    for wanted in only:
        if wanted not in names:
            raise ConfigError(path, None, "mutants", f"no mutant named '{wanted}' (known: {', '.join(names)})")
    root = system.path.parent
    for i, name in enumerate(spec.copy_paths or []):
        if not (root / name).exists() or not (root / name).resolve().is_relative_to(root.resolve()):
            raise source.error(("copy", i), f"'{name}' is not a file or folder inside {root}")
    for i, mutant in enumerate(spec.mutants):
        if not catalogue.patch_path(mutant).is_file():
            raise source.error(("mutants", i, "patch"), f"no such patch file: {catalogue.patch_path(mutant)}")
        for j, catch in enumerate(mutant.caught_by):
            _check_catch(catch, system, source, ("mutants", i, "caught_by", j))
    return catalogue


def _check_catch(catch: Catch, system: System, source: Source, loc: tuple[str | int, ...]) -> None:
    try:
        scenario = load_scenario(find_scenario(catch.scenario, system), system)
    except ConfigError as e:
        raise source.error((*loc, "scenario"), f"scenario '{catch.scenario}' cannot be used: {e}") from None
    titles = [c.title() for c in scenario.checks]
    if not [t for t in titles if catch.check in t]:
        raise source.error((*loc, "check"), f"no check of {catch.scenario} is titled '{catch.check}' (its checks: {'; '.join(titles)})")


# ------------------------------------------------------------------ judging


@dataclass(frozen=True)
class RunResult:
    """One `chaos run` of a scenario: its exit code and its verdicts (empty when it wrote none)."""

    scenario: str
    exit_code: int
    verdicts: list[dict[str, Any]]
    run_dir: str = ""
    wall_s: float = 0.0
    tail: str = ""  # the last line it printed: its error, when it exited 2


RERUNS_UNJUDGED = 2  # times a run that judged nothing (load not delivered) is run again


def load_not_delivered(evidence: str) -> bool:
    """Whether a verdict's evidence says it is unknown because the load was
    not delivered (chaos.checks.evaluate_all's wording)."""
    return evidence.startswith(NOT_DELIVERED)


@dataclass(frozen=True)
class Judgement:
    caught: bool
    why: str  # the catching evidence, or why this is not a catch
    judged: bool = True  # False: an expected check was UNKNOWN because the load was not delivered


def judge(catches: list[Catch], runs: dict[str, RunResult]) -> Judgement:
    """Whether one round of runs (scenario -> its run) caught the mutant: every
    expected check failed for its reason in a run that exited 1."""
    evidence = []
    for catch in catches:
        run = runs[catch.scenario]
        if run.exit_code == 2:
            return Judgement(False, f"{catch.scenario} broke (exit 2: bad input or set-up failure), which is not a catch: {run.tail}")
        if run.exit_code != 1:
            return Judgement(False, f"{catch.scenario} exited {run.exit_code}" + (": every check passed" if run.exit_code == 0 else ""))
        found = [v for v in run.verdicts if catch.check in v.get("check", "")]
        if not found:
            return Judgement(False, f"{catch.scenario} gave no verdict for '{catch.check}'")
        verdict = found[0]
        if verdict["status"] != "fail":
            return Judgement(False, f"{verdict['check']}: {verdict['status'].upper()}: {verdict.get('evidence', '')}",
                             judged=not (verdict["status"] == "unknown" and load_not_delivered(verdict.get("evidence", ""))))
        if not re.search(catch.reason, verdict.get("evidence", "")):
            return Judgement(False, f"{verdict['check']} failed, but not for the expected reason /{catch.reason}/: {verdict.get('evidence', '')}")
        evidence.append(f"{catch.scenario}: {verdict['check']}: {verdict.get('evidence', '')}")
    return Judgement(True, " | ".join(evidence))


@dataclass
class MutantResult:
    mutant: Mutant
    rounds: list[Judgement] = field(default_factory=list)
    error: str | None = None  # set when the mutant could not be run at all

    @property
    def caught(self) -> int:
        return sum(j.caught for j in self.rounds)

    @property
    def escaped(self) -> bool:
        """Not caught in every run (whether missed or not judged)."""
        return self.error is not None or not self.rounds or self.caught < len(self.rounds)

    @property
    def missed(self) -> bool:
        """Escaped in a run that was judged (or could not run at all)."""
        return self.error is not None or not self.rounds or any(not j.caught and j.judged for j in self.rounds)


@dataclass
class BaselineResult:
    scenario: str
    exit_codes: list[int] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)  # evidence of checks that did not pass

    @property
    def clean(self) -> bool:
        return bool(self.exit_codes) and all(rc == 0 for rc in self.exit_codes)


# ------------------------------------------------------------------ acting


def make_scratch(system: System, catalogue: Catalogue) -> Path:
    """A scratch copy of the system file's folder (or of the catalogue's
    `copy` list), in a new temporary folder; the caller removes it."""
    root = system.path.parent
    scratch = Path(tempfile.mkdtemp(prefix="chaos-mutant-"))
    ignore = shutil.ignore_patterns(*SKIP_NAMES, "*.pyc")
    names = catalogue.spec.copy_paths or [p.name for p in root.iterdir() if p.name not in SKIP_NAMES]
    for name in names:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, scratch / name, ignore=ignore, symlinks=True)
        elif src.exists():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, scratch / name)
    return scratch


def apply_patch(patch: Path, folder: Path) -> str | None:
    """Apply `patch` in `folder` with `git apply` (checked first, so a patch
    that does not apply changes nothing); the error in words, or None."""
    for args in (["--check"], []):
        done = subprocess.run(["git", "apply", *args, str(patch)], cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            return (done.stderr or done.stdout).strip().splitlines()[0] if (done.stderr or done.stdout).strip() else "git apply failed"
    return None


def check_patches(catalogue: Catalogue, system: System, names: list[str]) -> None:
    """Raise ConfigError for the first mutant in `names` whose patch does not
    apply to a fresh copy of the system: refused before anything runs."""
    scratch = make_scratch(system, catalogue)
    try:
        for i, mutant in enumerate(catalogue.spec.mutants):
            if mutant.name not in names:
                continue
            done = subprocess.run(["git", "apply", "--check", str(catalogue.patch_path(mutant))], cwd=scratch,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise catalogue.source.error(("mutants", i, "patch"), f"{mutant.patch} no longer applies to {system.path.parent}: "
                                             + " ".join((done.stderr or done.stdout).split())[:300])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_scenario(scratch: Path, system: System, scenario: str, reports: Path, port_offset: str,
                 env: dict[str, str] | None = None) -> RunResult:
    """`chaos run SCENARIO` on the scratch copy's system file, on ports of its own."""
    reports.mkdir(parents=True, exist_ok=True)
    system_file = scratch / system.path.name
    cmd = [sys.executable, "-m", "chaos", "--system", str(system_file), "--port-offset", port_offset,
           "run", scenario, "--reports", str(reports)]
    started = time.monotonic()
    with (reports / "chaos-run.log").open("w") as log:
        # Not cwd=scratch: `python -m chaos` imports from the working folder
        # first, and a scratch copy of a checkout holds its own chaos/.
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {}), "CHAOS_PORT_OFFSET": port_offset}).returncode
    wall = time.monotonic() - started
    found = sorted(reports.glob("*/verdicts.json"))
    verdicts = json.loads(found[-1].read_text())["verdicts"] if found else []
    lines = (reports / "chaos-run.log").read_text().strip().splitlines()
    tail = f"{lines[-1] if lines else 'no output'} (log: {reports / 'chaos-run.log'})"
    return RunResult(scenario, rc, verdicts, str(found[-1].parent) if found else str(reports), round(wall, 1), tail)


Say = Callable[[str], None]


def run_mutants(catalogue: Catalogue, system: System, *, repeat: int, only: list[str], reports: Path,
                port_offset: str = "auto", baseline: bool = True, say: Say = print) -> tuple[list[BaselineResult], list[MutantResult]]:
    """Run the baseline (every expected scenario on an unpatched copy,
    `repeat` times) and then each mutant's expected scenarios `repeat` times
    on a patched copy; every run's folder goes under `reports`."""
    mutants = [m for m in catalogue.spec.mutants if not only or m.name in only]
    check_patches(catalogue, system, [m.name for m in mutants])
    scenarios = list(dict.fromkeys(c.scenario for m in mutants for c in m.caught_by))
    baselines: list[BaselineResult] = []
    if baseline:
        scratch = make_scratch(system, catalogue)
        try:
            for scenario in scenarios:
                result = BaselineResult(scenario)
                for k in range(repeat):
                    for t in range(1 + RERUNS_UNJUDGED):
                        run = run_scenario(scratch, system, scenario, reports / "baseline" / _folder(scenario, k, t), port_offset)
                        if not not_judged(run.exit_code, run.verdicts) or t == RERUNS_UNJUDGED:
                            break
                        say(f"baseline  {scenario} run {k + 1}/{repeat}: NOT JUDGED (load not delivered), "
                            f"running it again ({t + 2} of {1 + RERUNS_UNJUDGED}): {run.tail}")
                    result.exit_codes.append(run.exit_code)
                    result.failing += [f"{v['check']}: {v['status'].upper()}: {v.get('evidence', '')}"
                                       for v in run.verdicts if v["status"] != "pass"]
                    say(f"baseline  {scenario} run {k + 1}/{repeat}: exit {run.exit_code} ({run.wall_s:.0f} s)")
                    if run.exit_code == 2:
                        # Every mutant's run would break the same way: stop here.
                        raise SetupError(f"the unpatched system could not run {scenario} (exit 2): {run.tail}")
                baselines.append(result)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results = []
    for mutant in mutants:
        result = MutantResult(mutant)
        scratch = make_scratch(system, catalogue)
        try:
            problem = apply_patch(catalogue.patch_path(mutant), scratch)
            if problem:
                result.error = f"the patch did not apply: {problem}"
            else:
                mutant_scenarios = list(dict.fromkeys(c.scenario for c in mutant.caught_by))
                for k in range(repeat):
                    for t in range(1 + RERUNS_UNJUDGED):
                        runs = {s: run_scenario(scratch, system, s, reports / mutant.name / _folder(s, k, t), port_offset)
                                for s in mutant_scenarios}
                        verdict = judge(mutant.caught_by, runs)
                        if verdict.judged or t == RERUNS_UNJUDGED:
                            break
                        say(f"mutant    {mutant.name} run {k + 1}/{repeat}: NOT JUDGED, running it again "
                            f"({t + 2} of {1 + RERUNS_UNJUDGED}): {verdict.why}")
                    result.rounds.append(verdict)
                    label = "CAUGHT" if verdict.caught else "ESCAPED" if verdict.judged else "NOT JUDGED"
                    say(f"mutant    {mutant.name} run {k + 1}/{repeat}: {label}: {verdict.why}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results.append(result)
    return baselines, results


def _folder(scenario: str, k: int, t: int) -> str:
    """The run folder of repeat k (from 0), try t (from 0): SCENARIO-K, then SCENARIO-K-again-T."""
    return f"{scenario}-{k + 1}" + (f"-again-{t}" if t else "")


def mutation_score(system: System, catalogue_path: Path, *, repeat: int, only: list[str], reports: Path,
                   port_offset: str = "auto", baseline: bool = True, say: Say = print) -> bool:
    """Check the catalogue, run everything (see `run_mutants`), print the
    tables and write them to REPORTS/mutants/<time>/; True when every mutant
    was caught in every run and the baseline passed every run. Raises
    ConfigError (exit 2) before running anything when the input is wrong."""
    from chaos.report import mutants as report

    if repeat < 1:
        raise ConfigError(None, None, "--repeat", f"must be 1 or more, not {repeat}")
    catalogue = load_catalogue(catalogue_path, system, only)
    folder = reports / "mutants" / time.strftime("%Y%m%d-%H%M%S")
    baselines, results = run_mutants(catalogue, system, repeat=repeat, only=only, reports=folder,
                                     port_offset=port_offset, baseline=baseline, say=say)
    report.write(folder, baselines, results)
    say("")
    say(report.table(baselines, results))
    say(f"evidence of every run in {folder}")
    return report.passed(baselines, results)
