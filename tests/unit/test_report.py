"""Run folders from synthetic histories: what the timeline reads out of a
history, what each file holds, and that JUnit XML is valid and red where it must be."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chaos.checks import Verdict, evaluate_all
from chaos.history import History, Pressure, Request
from chaos.spec.options import RunOptions
from chaos.report import LogMarks, redraw, run_info, write_run_folder
from chaos.report.timeline import current_states, timeline
from chaos.spec.scenario import load_scenario

from ..evidence import assert_run_folder, assert_valid_junit, junit_cases
from .histories import BREAKER, T0, run

UNITS = ["toxiproxy", "inventory", "users", "orders", "gateway"]


def test_the_timeline_has_each_breaker_state_as_a_band_and_the_fault_window():
    tl = timeline(run(opens_at=8.3))
    mine = [(b.state, round(b.start, 2), round(b.end, 2)) for b in tl.bands if b.breaker == BREAKER]
    assert mine == [("closed", 0.0, 8.3), ("open", 8.3, 22.0), ("closed", 22.0, 30.0)]  # half-open for 0 s: no band
    assert [(c.old, c.new) for c in tl.changes] == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert [(f.start, f.end) for f in tl.faults] == [(8.0, 18.0)]
    assert tl.end == pytest.approx(30.0) and tl.routes[:2] == ["user", "profile"]


def test_the_timeline_tells_full_answers_fallbacks_and_errors_apart():
    tl = timeline(run(affected_fallback=False))  # while open, profile answers 504 with no fallback
    outcomes = {p.outcome for p in tl.points if p.route == "profile" and 9 <= p.t < 17}
    assert outcomes == {"error"}
    during = [b for b in tl.bins if 9 <= b.start < 17]
    assert all(b.errors == b.sent / 2 and b.ok == b.sent / 2 for b in during)  # user fine, profile failing
    assert {p.outcome for p in timeline(run()).points if p.route == "profile" and 9 <= p.t < 17} == {"fallback"}


def test_breakers_that_are_off_show_as_disabled():
    tl = timeline(run(opens_at=None, enabled=False))
    assert {b.state for b in tl.bands} == {"disabled"}


def test_current_states_follow_the_transitions():
    h = run(opens_at=8.3)
    assert current_states(h, T0 + 5)[BREAKER][0] == "closed"
    assert current_states(h, T0 + 10) == {BREAKER: ("open", T0 + 8.3)}
    assert current_states(h, T0 + 25)[BREAKER][0] == "closed"


def test_history_reads_back_what_it_wrote(tmp_path):
    h = run()
    h.write_jsonl(tmp_path / "h.jsonl")
    back = History.read_jsonl(tmp_path / "h.jsonl")
    assert list(back) == list(h)


class FakeRuntime:
    def __init__(self, folder: Path):
        self.folder = folder

    def logs(self, name: str) -> Path:
        return self.folder / f"{name}.log"


def _folder(tmp_path, system, history: History, breakers: str = "on", logs: LogMarks | None = None) -> tuple[Path, list[Verdict]]:
    scenario = load_scenario(system.scenarios_dir / "order-down.yaml", system)
    verdicts = evaluate_all(scenario.checks, history, system)
    info = run_info(scenario, "r1", T0, 33.5, all(v.passed for v in verdicts), RunOptions(breakers, "local"))
    run_dir = tmp_path / f"run-{breakers}"
    write_run_folder(run_dir, history, verdicts, info, logs)
    return run_dir, verdicts


def test_a_run_folder_holds_every_file_and_only_this_runs_part_of_each_log(tmp_path, system):
    logs = tmp_path / "logs"
    logs.mkdir()
    for unit in UNITS:
        (logs / f"{unit}.log").write_text(f"old {unit} line\n")
    marks = LogMarks(FakeRuntime(logs), UNITS)
    for unit in UNITS:
        with (logs / f"{unit}.log").open("a") as f:
            f.write(f"{unit} during the run\n")
    run_dir, _ = _folder(tmp_path, system, run(), logs=marks)
    verdicts = assert_run_folder(run_dir, UNITS)
    assert verdicts["passed"] and len(verdicts["verdicts"]) == 6
    assert (run_dir / "logs" / "orders.log").read_text() == "orders during the run\n"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["seed"] == 1 and info["breakers"] == "on" and info["parameters"]["load"]["rate"] == 30
    assert "flask-chaos" in info["versions"] and "kind: kill" in info["source"]
    page = (run_dir / "report.html").read_text()
    assert "Plotly.newPlot" in page and "kill orders" in page and "order-down" in page


def test_how_starved_the_machine_was_is_in_verdicts_json_and_the_report(tmp_path, system):
    history = run()
    for i in range(5):
        history.append(Pressure(T0 + i, 1.0, 0.25 * i, 0.0))
    run_dir, _ = _folder(tmp_path, system, history)
    machine = json.loads((run_dir / "verdicts.json").read_text())["machine"]
    assert machine["cpu_some"] == {"mean": 0.5, "max": 1.0} and machine["seconds"] == 5
    assert "machine: some task waited for a CPU 50% of the time (worst second 100%)" in (run_dir / "report.html").read_text()
    bare, _ = _folder(tmp_path / "bare", system, run())  # a kernel without /proc/pressure
    assert json.loads((bare / "verdicts.json").read_text())["machine"] is None
    assert "no pressure figures from this kernel" in (bare / "report.html").read_text()


def test_a_replaced_log_is_copied_whole(tmp_path):
    (tmp_path / "orders.log").write_text("a long old log\n" * 10)
    marks = LogMarks(FakeRuntime(tmp_path), ["orders"])
    (tmp_path / "orders.log").write_text("new\n")
    marks.copy_to(tmp_path / "out")
    assert (tmp_path / "out" / "orders.log").read_text() == "new\n"


def test_junit_of_a_failing_run_is_valid_and_red_for_the_failing_checks(tmp_path, system):
    broken = run(opens_at=None, enabled=False, affected_fallback=False, affected_latency=1.0, user_latency_during=3.0, lost=2)
    run_dir, verdicts = _folder(tmp_path, system, broken, breakers="off")
    assert_valid_junit(run_dir / "junit.xml")
    cases = junit_cases(run_dir / "junit.xml")
    assert cases[("order-down", "acknowledged writes survive")] == "fail"
    assert cases[("order-down", "breaker gateway->orders opens within 3 s")] == "fail"
    assert [c for c, status in cases.items() if status == "pass"] == [
        ("order-down", v.check) for v in verdicts if v.status == "pass"
    ]
    root = (run_dir / "junit.xml").read_text()
    assert 'failures="' + str(sum(not v.passed for v in verdicts)) + '"' in root
    assert '<property name="breakers" value="off" />' in root


def test_an_unknown_verdict_is_a_failure_in_junit(tmp_path):
    from chaos.report import junit

    junit.write(tmp_path / "j.xml", [junit.run_suite("s", [{"check": "c", "status": "unknown", "evidence": "no fault"}], 1.0, time.time())])
    assert_valid_junit(tmp_path / "j.xml")
    assert junit_cases(tmp_path / "j.xml") == {("s", "c"): "unknown"}
    assert 'message="could not tell: no fault"' in (tmp_path / "j.xml").read_text()


def test_the_schema_refuses_what_is_not_junit(tmp_path):
    from ..evidence import is_valid_junit

    (tmp_path / "bad.xml").write_text('<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>')
    assert not is_valid_junit(tmp_path / "bad.xml")  # no failures/errors counts, a case with no name


def test_a_report_that_cannot_be_drawn_leaves_the_rest_and_says_why(tmp_path, system, monkeypatch):
    import chaos.report.figure

    def broken(tl):
        raise RuntimeError("no plot today")

    monkeypatch.setattr(chaos.report.figure, "figure", broken)
    run_dir, _ = _folder(tmp_path, system, run())
    assert not (run_dir / "report.html").exists()
    assert "no plot today" in (run_dir / "report-error.txt").read_text()
    assert (run_dir / "junit.xml").exists() and (run_dir / "verdicts.json").exists()
    monkeypatch.undo()
    assert redraw(run_dir).exists()  # drawn again from the folder's own files


def test_a_history_with_no_answers_still_draws(tmp_path, system):
    h = History([e for e in run() if not isinstance(e, Request)])
    run_dir, _ = _folder(tmp_path, system, h)
    assert (run_dir / "report.html").exists()
