"""The nightly's bookkeeping, without starting anything: statuses over
repeats, the combined JUnit XML, the index, and the change since last night."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos.spec.options import RunOptions
from chaos.report import junit
from chaos.checks import evaluate_all
from chaos.engine.nightly import Nightly, RunRecord, combined_junit, scenario_status
from chaos.report import run_info, write_run_folder
from chaos.spec.scenario import load_scenario

from ..evidence import assert_valid_junit, junit_cases
from .histories import T0, run

CHECKS = ["breaker opens", "fails fast", "containment"]


def record(scenario: str, repeat: int, failing: tuple[str, ...] = (), run_dir: str | None = None) -> RunRecord:
    verdicts = [{"check": c, "status": "fail" if c in failing else "pass", "evidence": f"{c} evidence {repeat}", "figures": {}}
                for c in CHECKS]
    return RunRecord(scenario, repeat, "fail" if failing else "pass", verdicts, 30.0, T0 + repeat * 40, run_dir)


def fake_runs(outcomes: dict[str, list[tuple[str, ...]]]):
    """A RunOne that returns the failing checks given per scenario, repeat by repeat,
    and makes a run folder with a report.html like the real one would."""
    calls = []

    def run_one(name: str, repeat: int, reports: Path) -> RunRecord:
        calls.append((name, repeat))
        folder = reports / f"{name}-{repeat}"
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("<html>report</html>")
        return record(name, repeat, outcomes[name][repeat - 1], str(folder))

    return run_one, calls


def test_a_scenario_is_flaky_when_its_repeats_disagree():
    assert scenario_status([record("a", 1), record("a", 2)]) == "pass"
    assert scenario_status([record("a", 1), record("a", 2, ("fails fast",))]) == "flaky"
    assert scenario_status([record("a", 1, ("fails fast",)), record("a", 2, ("containment",))]) == "fail"
    assert scenario_status([RunRecord("a", 1, "error", error="set-up failed")]) == "error"


def test_a_nightly_writes_combined_junit_an_index_and_latest(tmp_path):
    run_one, calls = fake_runs({"steady": [(), ()], "flaky": [(), ("fails fast",)], "broken": [("containment",), ("containment",)]})
    lines: list[str] = []
    summary = Nightly(["steady", "flaky", "broken"], 2, run_one, tmp_path / "nightly", lines.append, breakers="on", runtime="local").run()

    assert calls == [("steady", 1), ("flaky", 1), ("broken", 1), ("steady", 2), ("flaky", 2), ("broken", 2)]
    assert not summary["passed"]
    assert {n: s["status"] for n, s in summary["scenarios"].items()} == {"steady": "pass", "flaky": "flaky", "broken": "fail"}
    (out,) = [p for p in (tmp_path / "nightly").iterdir() if p.is_dir()]
    for name in ("junit.xml", "index.html", "summary.json", "summary.md"):
        assert (out / name).is_file(), name
    assert json.loads((tmp_path / "nightly" / "latest.json").read_text())["scenarios"] == summary["scenarios"]

    assert_valid_junit(out / "junit.xml")
    cases = junit_cases(out / "junit.xml")
    assert cases[("steady", "fails fast")] == "pass"
    assert cases[("flaky", "fails fast")] == "flaky" and cases[("flaky", "containment")] == "pass"
    assert cases[("broken", "containment")] == "fail" and cases[("broken", "fails fast")] == "pass"
    root = ET.parse(out / "junit.xml").getroot()
    assert root.get("tests") == "9" and root.get("failures") == "2"
    broken = next(c for c in root.iter("testcase") if c.get("classname") == "chaos.broken" and c.get("name") == "containment")
    assert [e.tag for e in broken] == ["failure", "rerunFailure"]
    flaky = next(c for c in root.iter("testcase") if c.get("classname") == "chaos.flaky" and c.get("name") == "fails fast")
    assert [e.tag for e in flaky] == ["failure", "flakyFailure"] and "failed 1 of 2 runs" in flaky.find("failure").get("message")

    index = (out / "index.html").read_text()
    links = re.findall(r'href="([^"]+/report\.html)"', index)
    assert len(links) == 6 and all((out / link).is_file() for link in links)  # relative: the folder can move
    assert "no previous nightly to compare with" in index
    assert "nightly: 1 passed, 2 failed" in lines[-1]


def test_the_next_nightly_shows_what_changed(tmp_path):
    first, _ = fake_runs({"a": [()], "b": [("fails fast",)], "c": [()]})
    Nightly(["a", "b", "c"], 1, first, tmp_path, lambda s: None).run()
    second, _ = fake_runs({"a": [("containment",)], "b": [()], "d": [()]})
    summary = Nightly(["a", "b", "d"], 1, second, tmp_path, lambda s: None).run()
    found = {(c["scenario"], c.get("check", ""), c["change"]) for c in summary["changes"]}
    assert found == {
        ("a", "", "regressed"), ("a", "containment", "regressed"),
        ("b", "", "fixed"), ("b", "fails fast", "fixed"),
        ("d", "", "new"), ("c", "", "gone"),
    }
    assert summary["changes"][0]["change"] == "regressed"  # what a team must see first
    out = Path(summary["folder"])
    assert "regressed" in (out / "index.html").read_text() and "**regressed** a" in (out / "summary.md").read_text()


def test_a_scenario_that_could_not_run_is_red(tmp_path):
    def run_one(name, repeat, reports):
        return RunRecord(name, repeat, "error", error="set-up failed: port in use") if name == "b" else record(name, repeat)

    summary = Nightly(["a", "b"], 1, run_one, tmp_path, lambda s: None).run()
    assert summary["scenarios"]["b"]["status"] == "error" and not summary["passed"]
    cases = junit_cases(Path(summary["folder"]) / "junit.xml")
    assert cases[("b", "scenario runs")] == "fail"
    assert_valid_junit(Path(summary["folder"]) / "junit.xml")


def _saved_run(tmp_path: Path, system, scenario_name: str, history, breakers: str) -> Path:
    scenario = load_scenario(system.scenarios_dir / f"{scenario_name}.yaml", system)
    verdicts = evaluate_all(scenario.checks, history, system)
    info = run_info(scenario, f"{scenario_name}-{breakers}", T0, 33.0, all(v.passed for v in verdicts), RunOptions(breakers))
    folder = tmp_path / f"{scenario_name}-{breakers}"
    write_run_folder(folder, history, verdicts, info)
    return folder


def test_breakers_off_turns_the_right_scenarios_red_in_the_combined_junit(tmp_path, system):
    """From saved run folders: order-down healthy, order-slow as it goes with
    breakers off (never opens, slow failures, user reads queue behind them)."""
    healthy = _saved_run(tmp_path, system, "order-down", run(), "on")
    slow_off = run(opens_at=None, enabled=False, affected_fallback=False, affected_latency=1.0, user_latency_during=3.0)
    broken = _saved_run(tmp_path, system, "order-slow", slow_off, "off")
    records = [RunRecord.from_folder(healthy), RunRecord.from_folder(broken)]
    combined_junit(records, tmp_path / "junit.xml", {"breakers": "off"})

    assert_valid_junit(tmp_path / "junit.xml")
    cases = junit_cases(tmp_path / "junit.xml")
    assert {c for c, status in cases.items() if c[0] == "order-down" and status != "pass"} == set()
    red = {name for (suite, name), status in cases.items() if suite == "order-slow" and status != "pass"}
    assert {"gateway->orders fails fast", "unaffected routes contained", "breaker gateway->orders opens within 4 s"} <= red
    assert "acknowledged writes survive" not in red  # nothing was lost: red only where resilience failed
    suites = {s.get("name"): s.get("failures") for s in ET.parse(tmp_path / "junit.xml").getroot().iter("testsuite")}
    assert suites["order-down"] == "0" and int(suites["order-slow"]) == len(red)


def test_junit_time_keeps_to_the_schema(tmp_path):
    junit.write(tmp_path / "j.xml", [junit.run_suite("s", [], 1234.56789, T0)])
    assert_valid_junit(tmp_path / "j.xml")


def test_repeat_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        Nightly(["a"], 0, lambda *a: None, tmp_path)  # type: ignore[arg-type, return-value]


def test_the_nightly_on_docker_runs_every_scenario_of_the_library(system):
    """`make nightly RUNTIME=docker` leaves out only what Docker cannot run:
    the swarm's replica scenarios, saying so; the async path's scenarios and
    per-worker-breakers (whose storage=redis the compose file gives the
    gateway) included."""
    from chaos.cli import _runs_on
    from chaos.spec.scenario import list_scenarios
    from chaos.ui.console import Console

    said: list[str] = []
    console = Console()
    console.say = said.append  # type: ignore[method-assign]
    names = list_scenarios(system)
    assert {"broker-down", "worker-killed", "smtp-slow", "redis-slow", "per-worker-breakers", "breaker-store-down"} <= set(names)
    swarm_only = ["all-replicas-down", "one-replica-down", "rolling-restart"]
    assert [n for n in names if not _runs_on(n, system, "docker", console)] == swarm_only
    assert len(said) == 3 and all("needs RUNTIME=swarm" in line for line in said), said


def test_an_interrupted_nightly_keeps_the_runs_it_did_and_is_not_the_next_ones_baseline(tmp_path):
    """Ctrl-C an hour into a soak: the runs done are written, marked as cut
    short, never passed; latest.json (what the next nightly compares with) is left alone."""
    Nightly(["a"], 1, fake_runs({"a": [()]})[0], tmp_path, lambda s: None).run()
    baseline = (tmp_path / "latest.json").read_text()
    done: list[str] = []

    def run_one(name: str, repeat: int, reports: Path) -> RunRecord:
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(name)
        return record(name, repeat)

    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        Nightly(["a", "b"], 3, run_one, tmp_path, lines.append).run()
    assert (tmp_path / "latest.json").read_text() == baseline
    (folder,) = [p.parent for p in tmp_path.glob("*/summary.json") if json.loads(p.read_text()).get("interrupted")]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] == "after 2 of 6 runs" and summary["passed"] is False and summary["changes"] == []
    assert [r["status"] for s in summary["scenarios"].values() for r in s["runs"]] == ["pass", "pass"]
    assert (folder / "summary.md").read_text().startswith("## Nightly resilience: INTERRUPTED after 2 of 6 runs")
    assert "INTERRUPTED" in (folder / "index.html").read_text() and "cut short" in (folder / "index.html").read_text()
    assert "  cut short: not compared with the previous nightly" in lines
    assert lines[-1].startswith("\nnightly: INTERRUPTED after 2 of 6 runs: 2 passed")


def test_a_nightly_interrupted_before_its_first_run_writes_nothing(tmp_path):
    def run_one(name: str, repeat: int, reports: Path) -> RunRecord:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Nightly(["a"], 1, run_one, tmp_path, lambda s: None).run()
    assert list(tmp_path.iterdir()) == []
