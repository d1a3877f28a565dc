"""What `chaos explore` records: its options, every example that ran, the
flaky ones, the finding and the result (chaos.engine.explore fills them,
chaos.report.explore reads them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.engine import schedules as sch


@dataclass(frozen=True)
class ExploreOptions:
    budget: float = 600.0  # seconds of search (generation and shrinking)
    examples: int = 1000  # at most this many generated examples (Hypothesis's max_examples)
    seed: int | None = None
    max_shrink_runs: int = 30
    breakers: str = "on"
    runtime: str = "local"
    out: Path | None = None  # where found scenarios go; default: the scenarios folder's found/
    reports: Path = Path("reports")
    database: Path | None = None  # Hypothesis's example database; default: .chaos/explore-db beside the system file
    confirm_runs: int = 2  # reruns of a first violation before it is shrunk: it must fail again in one of them


@dataclass
class Example:
    """One schedule that ran (or could not)."""

    number: int
    phase: str  # "generate", "confirm" (a first violation run again), "shrink" or "replay"
    faults: list[dict[str, Any]]
    status: str  # "pass", "fail", "unknown" (none failed, some could not tell), "error" (could not run), "flaky"
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # "title: evidence"
    error: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)  # title -> pass, fail or unknown
    run_dir: str | None = None
    wall_time: float = 0.0
    at: float = 0.0  # seconds since exploring began, when it ended


@dataclass
class Flaky:
    """A first violation that did not come back when its schedule ran again."""

    faults: list[dict[str, Any]]
    failed: list[str]
    example: int
    reruns: list[str]  # the statuses of the reruns


@dataclass
class Finding:
    """The smallest violating schedule found, and what became of it."""

    faults: list[dict[str, Any]]
    violated: list[str]  # check titles
    first_example: int
    first_after_s: float
    first_size: int
    shrink_runs: int
    shrink_complete: bool
    status: str = "not replayed"  # after the replay: "reproduced", "flaky" (passed) or "unconfirmed" (never told)
    path: str | None = None
    replay_as: str = ""  # what `chaos run` takes for it
    replay: Example | None = None


@dataclass
class ExploreResult:
    examples: list[Example]
    finding: Finding | None
    stopped_by: str  # "examples", "budget", "found"
    elapsed: float
    index: Path
    catalogue: sch.Catalogue
    profile: sch.Profile
    spent: str = ""  # what ran out, when stopped by the budget
    flaky: list[Flaky] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Nothing found that came back when run again (flaky ones are listed,
        not finds; one the replays could never judge is not a pass)."""
        return self.finding is None or self.finding.status == "flaky"


def again_fails(again: Example, violated: list[str]) -> str:
    """What a rerun says of the violated checks: "fail" when one failed again,
    "pass" when every one passed, else "unknown" (it could not tell)."""
    statuses = [again.verdicts.get(t, "unknown") for t in violated]
    if "fail" in statuses:
        return "fail"
    return "pass" if statuses and all(st == "pass" for st in statuses) else "unknown"
