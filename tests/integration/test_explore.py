"""chaos explore on the real stack, in its short form: with breakers off it
finds a violation, shrinks it, writes it to scenarios/found/ and replays it,
and `chaos run found/NAME --breakers off` fails the same way; the same
seeded schedules with breakers on find nothing and print the summary.

Seed 3 draws, with this Hypothesis and this catalogue, `down gateway->orders`
(refused at once: no cascade even without breakers) and then `pause orders`
for 6.5 s, which with breakers off holds the gateway's threads on calls to a
frozen orders service until the routes that never need orders queue.
Each stack runs on ports of its own (--port-offset auto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from chaos.spec import load_system
from chaos.spec.scenario import load_scenario

from .conftest import run_chaos

ROOT = Path(__file__).resolve().parents[2]
CONTAIN = "unaffected routes contained"


def explore(tmp_path: Path, breakers: str, examples: int, *extra: str):
    return run_chaos("--port-offset", "auto", "explore", "--breakers", breakers, "--seed", "3", "--examples", str(examples),
                     "--budget", "150s", "--database", str(tmp_path / "db"), "--reports", str(tmp_path / "reports"), *extra,
                     timeout=300)


def index(tmp_path: Path) -> dict:
    (found,) = (tmp_path / "reports" / "explore").glob("*/index.json")
    return json.loads(found.read_text())


# make test-long: 87 s, the longest test of make test, whose whole CI run had
# reached 20 minutes; explore's schedules, shrinking and checks keep their
# unit tests there (tests/unit/test_explore_schedules.py, test_checks_explore.py).
@pytest.mark.long
def test_with_breakers_off_it_finds_shrinks_writes_and_the_file_replays_the_same_way(tmp_path):
    system = load_system(ROOT / "system.yaml")
    found_dir = system.scenarios_dir / "found"
    made_dir = not found_dir.exists()
    before = set(found_dir.glob("*.yaml")) if found_dir.exists() else set()
    try:
        # No confirming reruns here (the unit tests prove them): the replay from the file still judges it.
        result = explore(tmp_path, "off", 3, "--max-shrink-runs", "1", "--confirm-runs", "0")
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert f"VIOLATION: {CONTAIN}" in out and "shrink " in out and "reproduced on replay" in out, out
        finding = index(tmp_path)["finding"]
        assert finding["status"] == "reproduced" and finding["violated"] == [CONTAIN] and finding["shrink_runs"] == 1
        path = (ROOT / finding["path"]).resolve()
        assert path.parent == found_dir.resolve() and path not in before
        scenario = load_scenario(path, system)  # an ordinary scenario file, valid for the system file
        assert [c.kind for c in scenario.checks] == ["containment"]
        assert len(scenario.faults) <= finding["first_size"]
        assert yaml.safe_load(path.read_text())["system"]["services"]["gateway"]["env"] == {"SHOP_BREAKER_RESET_TIMEOUT": "2"}
        # Every example left the usual run folder.
        assert len(list((tmp_path / "reports" / "explore").glob("*/runs/*/verdicts.json"))) == len(index(tmp_path)["examples"])

        replay = run_chaos("--port-offset", "auto", "run", f"found/{path.stem}", "--breakers", "off",
                           "--reports", str(tmp_path / "replay"), timeout=120)
        assert replay.returncode == 1, replay.stdout + replay.stderr
        (run_dir,) = list((tmp_path / "replay").iterdir())
        verdicts = {v["check"]: v["status"] for v in json.loads((run_dir / "verdicts.json").read_text())["verdicts"]}
        assert verdicts == {CONTAIN: "fail"}
        print("\n" + "\n".join(line for line in result.stdout.splitlines() if line.startswith(("[", "found", "explored"))))
    finally:
        for new in set(found_dir.glob("*.yaml")) - before if found_dir.exists() else ():
            new.unlink()
        if made_dir and found_dir.exists() and not any(found_dir.iterdir()):
            found_dir.rmdir()


@pytest.mark.long  # make test-long: kept out of make test's 20 minutes (see Makefile)
def test_with_breakers_on_the_same_schedules_find_nothing_and_the_summary_is_printed(tmp_path):
    result = explore(tmp_path, "on", 2, "--out", str(tmp_path / "found"))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "explored 2 examples" in out and "found: nothing (no property failed)" in out
    assert "covered (examples per fault kind and target):" in out
    pause = next(line for line in out.splitlines() if line.strip().startswith("pause "))
    assert "orders 1" in pause and "users 0" in pause, pause  # the schedule breakers off failed on
    assert "0 violated" in out and not (tmp_path / "found").exists()
    data = index(tmp_path)
    assert data["finding"] is None and [e["status"] for e in data["examples"]] != []
    assert all(e["status"] in ("pass", "unknown") for e in data["examples"])


def test_bad_arguments_exit_2_and_start_nothing(tmp_path):
    for args, message in ((["--budget", "soon"], "--budget"), (["--examples", "0"], "--examples")):
        result = run_chaos("--port-offset", "auto", "explore", *args, "--reports", str(tmp_path))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


pytestmark = pytest.mark.integration
