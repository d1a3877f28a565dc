"""Scenario runs in tests, run again when the machine did not let them be
judged: the test suite's side of "load not delivered" (chaos.checks).

A run whose load was not delivered says UNKNOWN, rightly, and exits 1. On a
busy CI machine that happens to healthy runs now and then (one CI run stalled
11 s in the middle of order-down: lag p99 9.4 s at 30 req/s, every process of
the run silent alike), and such a run proves neither that the toolkit passes
a healthy system nor that it fails a broken one. A test expecting either
runs it again; a failed check never is."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from chaos.checks import not_judged


class NotJudged(UserWarning):
    """A scenario run the machine did not let judge, run again (shown in pytest's warnings summary)."""


UNJUDGED_TRIES = 3


def unjudged(returncode: int, verdict_files: list[Path]) -> str | None:
    """Why a run that did not pass was not judged, or None when it was.

    Not judged as chaos.checks.not_judged says, over the attempt's run
    folders: exit 1, no check failed, a check unknown because the load was
    not delivered."""
    return not_judged(returncode, [v for f in verdict_files for v in json.loads(f.read_text())["verdicts"]])


def until_judged(attempt: Callable[[], subprocess.CompletedProcess], reports: Path,
                 tries: int = UNJUDGED_TRIES) -> subprocess.CompletedProcess:
    """`attempt()`, a command that writes run folders (each with its
    verdicts.json) under `reports`, run again while the machine did not let
    its runs be judged (`unjudged`), at most `tries` times.

    Such a run says UNKNOWN, rightly: it proves neither that the toolkit
    passes a healthy system nor that it fails one, so a test that expects
    either runs it again. A failed check is never run again, and a run the
    machine never lets judge still fails the test after `tries`. The run
    folders of an attempt not judged are moved out of `reports` (the test
    reads the one judged) and each retry is a NotJudged warning, so the
    summary of the test run shows it."""
    for n in range(1, tries + 1):
        before = set(reports.rglob("verdicts.json")) if reports.exists() else set()
        done = attempt()
        new = sorted(set(reports.rglob("verdicts.json")) - before) if reports.exists() else []
        why = unjudged(done.returncode, new)
        if why is None or n == tries:
            return done
        aside = Path(tempfile.mkdtemp(prefix="chaos-unjudged-"))
        for found in new:
            shutil.move(str(found.parent), str(aside / found.parent.name))
        warnings.warn(NotJudged(f"attempt {n} of {tries} not judged, run again: {why[:300]} (its run folder: {aside})"),
                      stacklevel=2)
    raise AssertionError("unreachable")
