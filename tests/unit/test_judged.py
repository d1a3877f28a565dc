"""The test suite's rerun of scenario runs the machine did not let judge
(tests/judged.py): only a run with no failed check and the load not
delivered is run again, at most three times, and the test reads the run
that was judged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ..judged import NotJudged, until_judged

STALLED = {"check": "fails fast", "status": "unknown",
           "evidence": "load not delivered: asked 30 req/s, delivered 26; lag p99 9.4 s (bound 100 ms) (otherwise pass: ...)"}
PASSED = {"check": "fails fast", "status": "pass", "evidence": "p99 12 ms"}
FAILED = {"check": "contained", "status": "fail", "evidence": "user p99 3001 ms"}
BLIND = {"check": "opens", "status": "unknown", "evidence": "cannot be judged on this system: no agent"}


def attempts(reports: Path, script: list[tuple[int, list[dict]]]):
    """An attempt that writes the next run folder of `script` under `reports`, and its count."""
    made: list[int] = []

    def attempt() -> subprocess.CompletedProcess:
        code, verdicts = script[len(made)]
        made.append(code)
        run = reports / f"run-{len(made)}"
        run.mkdir(parents=True)
        (run / "verdicts.json").write_text(json.dumps({"verdicts": verdicts}))
        return subprocess.CompletedProcess([], code, f"attempt {len(made)}", "")

    return attempt, made


def test_a_run_not_judged_is_run_again_and_the_test_reads_only_the_judged_one(tmp_path):
    attempt, made = attempts(tmp_path, [(1, [STALLED, PASSED]), (0, [PASSED, PASSED])])
    with pytest.warns(NotJudged, match="attempt 1 of 3 not judged, run again: load not delivered: asked 30 req/s"):
        done = until_judged(attempt, tmp_path)
    assert done.returncode == 0 and done.stdout == "attempt 2" and len(made) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run-2"]  # the unjudged run's folder was moved out


@pytest.mark.parametrize("code, verdicts", [
    (1, [STALLED, FAILED]),  # a failed check is judged, whatever else is unknown
    (1, [BLIND, PASSED]),  # unknown for another reason: running again would not change it
    (0, [PASSED]),
    (2, []),  # bad input or a broken set-up
])
def test_a_judged_run_is_never_run_again(tmp_path, code, verdicts):
    attempt, made = attempts(tmp_path, [(code, verdicts)])
    assert until_judged(attempt, tmp_path).returncode == code and len(made) == 1


def test_a_machine_that_never_lets_a_run_be_judged_still_fails_the_test_after_three_tries(tmp_path):
    attempt, made = attempts(tmp_path, [(1, [STALLED])] * 5)
    with pytest.warns(NotJudged):
        done = until_judged(attempt, tmp_path)
    assert done.returncode == 1 and len(made) == 3 and [p.name for p in tmp_path.iterdir()] == ["run-3"]
