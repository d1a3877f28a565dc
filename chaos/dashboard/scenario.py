"""A library scenario run from the page: its state as the page shows it,
and the console the Runner writes its timeline and verdicts to."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.checks import Verdict
from chaos.history import History
from chaos.ui.console import Console


@dataclass
class ScenarioRun:
    """A library scenario started from the page, as it fills in."""

    name: str
    duration: float
    started: float
    lines: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "running"
    run_dir: str | None = None
    history: History | None = None
    t0: float | None = None


class ScenarioConsole(Console):
    """The Runner's console, writing to the page instead of a terminal."""

    def __init__(self, run: ScenarioRun, notify: Callable[[], None]):
        super().__init__(out=_Null(), colour=False)
        self.run = run
        self.notify = notify

    def line(self, kind: str, text: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        if self.t0 is not None:
            self.run.t0 = self.t0
        self.run.lines.append({"kind": kind, "text": text, "at": at,
                               "t": None if self.t0 is None else round(at - self.t0, 2)})
        self.notify()

    def stats(self, history: History, window: float) -> None:
        """The page draws its own charts."""

    def verdicts(self, verdicts: list[Verdict]) -> None:
        self.run.verdicts = [{"check": v.check, "status": v.status, "evidence": v.evidence} for v in verdicts]
        self.notify()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
