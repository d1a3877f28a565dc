"""The mutation score's catalogue, judging and table (chaos/engine/mutants.py,
chaos/report/mutants.py), and the fails_fast rule the catalogue needed: a
breaker that never opened cannot be what made answers fast."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaos.checks.fails_fast import FailsFast
from chaos.cli import main
from chaos.engine.mutants import (
    BaselineResult, Catch, MutantResult, RunResult, check_patches, judge, load_catalogue, make_scratch, apply_patch,
)
from chaos.errors import ConfigError
from chaos.history import BreakerInfo, FaultEvent, History, Mark
from chaos.report import mutants as report

from .histories import BREAKER, T0, request

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "services" / "mutants" / "catalogue.yaml"
CATCH = Catch(scenario="order-down", check="gateway->orders fails fast", reason="too few fallback answers")


def verdict(status: str, evidence: str = "p99 5 ms (bound 212 ms); 40% fallback answers; failed: too few fallback answers (bound 95%)"):
    return {"check": "gateway->orders fails fast", "status": status, "evidence": evidence}


# ------------------------------------------------------------------ the shipped catalogue


def test_the_shipped_catalogue_names_real_scenarios_and_checks_and_every_patch_applies(system):
    catalogue = load_catalogue(CATALOGUE, system)
    names = [m.name for m in catalogue.spec.mutants]
    assert len(names) >= 10 and len(set(names)) == len(names)
    check_patches(catalogue, system, names)  # raises if one no longer applies


def test_a_patch_changes_only_the_scratch_copy(system):
    catalogue = load_catalogue(CATALOGUE, system, only=["fail-max-too-high"])
    (mutant,) = [m for m in catalogue.spec.mutants if m.name == "fail-max-too-high"]
    scratch = make_scratch(system, catalogue)
    try:
        assert apply_patch(catalogue.patch_path(mutant), scratch) is None
        assert '"BREAKER_FAIL_MAX": 500' in (scratch / "services" / "shopkit" / "config.py").read_text()
        assert not (scratch / "chaos").exists()  # the toolkit is not the system: not copied
    finally:
        shutil.rmtree(scratch)
    assert '"BREAKER_FAIL_MAX": 5,' in (ROOT / "services" / "shopkit" / "config.py").read_text()


# ------------------------------------------------------------------ bad catalogues are refused, naming file, line, field


def _catalogue(tmp_path: Path, body: str, patch: str | None = None) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(body)
    (tmp_path / "m.patch").write_text(patch if patch is not None else (ROOT / "services/mutants/fail-max-too-high.patch").read_text())
    return path


ENTRY = """mutants:
  - name: m
    patch: m.patch
    bug: a bug
    why: a reason
    caught_by:
      - scenario: order-down
        check: {check}
        reason: never opened
"""


@pytest.mark.parametrize("body, where", [
    (ENTRY.format(check="breaker gateway->orders opens") + "    colour: red\n", "catalogue.yaml:10: mutants[0].colour"),
    (ENTRY.format(check="breaker gateway->users opens"), "catalogue.yaml:8: mutants[0].caught_by[0].check: no check of order-down"),
    (ENTRY.format(check="x").replace("order-down", "no-such-scenario"), "catalogue.yaml:7: mutants[0].caught_by[0].scenario"),
    (ENTRY.format(check="x").replace("never opened", "(unclosed"), "catalogue.yaml:9: mutants[0].caught_by[0].reason: not a valid regular expression"),
    (ENTRY.format(check="x").replace("m.patch", "gone.patch"), "catalogue.yaml:3: mutants[0].patch: no such patch file"),
    ("copy: [system.yaml, nowhere]\n" + ENTRY.format(check="x"), "catalogue.yaml:1: copy[1]: 'nowhere' is not a file or folder inside"),
])
def test_a_bad_catalogue_is_refused_naming_file_line_and_field(tmp_path, system, body, where):
    with pytest.raises(ConfigError) as err:
        load_catalogue(_catalogue(tmp_path, body), system)
    assert where in str(err.value)


def test_a_patch_that_no_longer_applies_is_refused_by_name_before_anything_runs(tmp_path, system):
    stale = (ROOT / "services/mutants/fail-max-too-high.patch").read_text().replace('"BREAKER_FAIL_MAX": 5,', '"BREAKER_FAIL_MAX": 7,')
    path = _catalogue(tmp_path, ENTRY.format(check="breaker gateway->orders opens"), stale)
    catalogue = load_catalogue(path, system)
    with pytest.raises(ConfigError) as err:
        check_patches(catalogue, system, ["m"])
    assert "catalogue.yaml:3: mutants[0].patch: m.patch no longer applies" in str(err.value)


def test_chaos_mutants_exits_2_on_a_bad_catalogue_and_runs_nothing(tmp_path, capsys):
    path = _catalogue(tmp_path, ENTRY.format(check="breaker gateway->users opens"))
    code = main(["--system", str(ROOT / "system.yaml"), "mutants", str(path), "--reports", str(tmp_path / "reports")])
    assert code == 2 and "mutants[0].caught_by[0].check" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_an_unknown_mutant_asked_for_by_name_is_refused(system):
    with pytest.raises(ConfigError, match="no mutant named 'nope'"):
        load_catalogue(CATALOGUE, system, only=["nope"])


# ------------------------------------------------------------------ judging a run


def test_a_catch_is_exit_1_with_the_expected_check_failing_for_its_reason():
    j = judge([CATCH], {"order-down": RunResult("order-down", 1, [verdict("fail")])})
    assert j.caught and "40% fallback answers" in j.why


@pytest.mark.parametrize("run, why", [
    (RunResult("order-down", 2, [], tail="chaos: error: gateway did not start"), "broke (exit 2"),
    (RunResult("order-down", 0, [verdict("pass")]), "every check passed"),
    (RunResult("order-down", 1, [verdict("unknown", "load not delivered")]), "UNKNOWN: load not delivered"),
    (RunResult("order-down", 1, [verdict("fail", "p99 900 ms; failed: not fast")]), "not for the expected reason"),
    (RunResult("order-down", 1, [{"check": "containment", "status": "fail", "evidence": "x"}]), "no verdict for"),
])
def test_what_is_not_a_catch(run, why):
    j = judge([CATCH], {"order-down": run})
    assert not j.caught and why in j.why


def test_every_expected_check_must_fail():
    other = Catch(scenario="order-down", check="breaker gateway->orders opens", reason="never opened")
    runs = {"order-down": RunResult("order-down", 1, [verdict("fail"), {"check": "breaker gateway->orders opens within 3 s",
                                                                         "status": "pass", "evidence": "opened 0.2 s after"}])}
    assert not judge([CATCH, other], runs).caught


# ------------------------------------------------------------------ the score


def _results(system, caught: list[bool], baseline_codes: list[int]):
    mutant = load_catalogue(CATALOGUE, system).spec.mutants[0]
    result = MutantResult(mutant)
    for c in caught:
        result.rounds.append(judge([CATCH], {"order-down": RunResult("order-down", 1 if c else 0, [verdict("fail" if c else "pass")])}))
    return [BaselineResult("order-down", baseline_codes)], [result]


def test_the_score_passes_only_when_every_run_catches_and_the_baseline_passes(system):
    assert report.passed(*_results(system, [True, True, True], [0, 0, 0]))
    assert not report.passed(*_results(system, [True, False, True], [0, 0, 0]))
    assert not report.passed(*_results(system, [True, True, True], [0, 1, 0]))
    table = report.table(*_results(system, [True, False, True], [0, 1, 0]))
    assert "| 2/3 |" in table and "ESCAPED" in table and "FAILED order-down, so those catches prove nothing" in table


# ------------------------------------------------------------------ a run the load did not let judge

STALLED = "load not delivered: asked 30 req/s, delivered 30; lag p99 270 ms (bound 100 ms) (otherwise fail: ...)"


def test_an_expected_check_unknown_for_the_load_is_not_judged_and_any_other_unknown_is_judged():
    assert not judge([CATCH], {"order-down": RunResult("order-down", 1, [verdict("unknown", STALLED)])}).judged
    assert judge([CATCH], {"order-down": RunResult("order-down", 1, [verdict("unknown", "cannot be judged on this system")])}).judged
    assert judge([CATCH], {"order-down": RunResult("order-down", 0, [verdict("pass")])}).judged


def _scripted(monkeypatch, script: dict[str, list[RunResult]]) -> list[str]:
    """run_scenario answering from `script` (per folder kind: baseline or mutant), in order; returns the folders run."""
    import chaos.engine.mutants as engine

    folders: list[str] = []

    def fake(scratch, system, scenario, reports, port_offset, env=None):
        folders.append(f"{reports.parent.name}/{reports.name}")
        kind = "baseline" if reports.parent.name == "baseline" else "mutant"
        return script[kind].pop(0)

    monkeypatch.setattr(engine, "run_scenario", fake)
    monkeypatch.setattr(engine, "check_patches", lambda *a: None)
    monkeypatch.setattr(engine, "apply_patch", lambda *a: None)
    return folders


def _one_mutant(system):
    from chaos.engine.mutants import run_mutants

    catalogue = load_catalogue(CATALOGUE, system, only=["breaker-counts-4xx"])
    mutant = next(m for m in catalogue.spec.mutants if m.name == "breaker-counts-4xx")
    (catch,) = mutant.caught_by

    def run(kind: str, tmp: Path, said: list[str]):
        return run_mutants(catalogue, system, repeat=1, only=[mutant.name], reports=tmp, say=said.append)

    return catch, run


def _verdict(catch, status: str, evidence: str) -> dict:
    return {"check": catch.check, "status": status, "evidence": evidence}


def test_a_round_not_judged_is_run_again_and_the_judged_try_counts(system, tmp_path, monkeypatch):
    catch, run = _one_mutant(system)
    caught = _verdict(catch, "fail", "gateway->users opened 16 times, first 6.14 s before the fault started")
    folders = _scripted(monkeypatch, {
        "baseline": [RunResult(catch.scenario, 1, [_verdict(catch, "unknown", STALLED)]), RunResult(catch.scenario, 0, [])],
        "mutant": [RunResult(catch.scenario, 1, [_verdict(catch, "unknown", STALLED)]), RunResult(catch.scenario, 1, [caught])],
    })
    said: list[str] = []
    baselines, results = run("mutant", tmp_path, said)
    assert folders == [f"baseline/{catch.scenario}-1", f"baseline/{catch.scenario}-1-again-1",
                       f"breaker-counts-4xx/{catch.scenario}-1", f"breaker-counts-4xx/{catch.scenario}-1-again-1"]
    assert baselines[0].exit_codes == [0] and results[0].caught == 1 and report.passed(baselines, results)
    assert any("NOT JUDGED (load not delivered), running it again (2 of 3)" in line for line in said), said
    assert any("NOT JUDGED, running it again (2 of 3)" in line for line in said), said
    assert said[-1].startswith("mutant    breaker-counts-4xx run 1/1: CAUGHT")


def test_a_round_never_judged_is_not_caught_and_is_shown_as_not_judged_never_as_escaped(system, tmp_path, monkeypatch):
    catch, run = _one_mutant(system)
    stalled = RunResult(catch.scenario, 1, [_verdict(catch, "unknown", STALLED)])
    folders = _scripted(monkeypatch, {"baseline": [RunResult(catch.scenario, 0, [])], "mutant": [stalled] * 3})
    said: list[str] = []
    baselines, results = run("mutant", tmp_path, said)
    assert len(folders) == 1 + 3  # tried three times, no more
    assert results[0].caught == 0 and results[0].escaped and not results[0].missed
    assert not report.passed(baselines, results)
    table = report.table(baselines, results)
    assert "NOT JUDGED: " in table and "ESCAPED" not in table and "escaped:" not in table, table
    assert "not judged (load not delivered, every try): breaker-counts-4xx" in table
    assert said[-1].startswith("mutant    breaker-counts-4xx run 1/1: NOT JUDGED")


def test_a_failed_check_is_never_run_again(system, tmp_path, monkeypatch):
    catch, run = _one_mutant(system)
    failed_baseline = RunResult(catch.scenario, 1, [_verdict(catch, "unknown", STALLED), {"check": "x", "status": "fail", "evidence": "y"}])
    missed = RunResult(catch.scenario, 0, [_verdict(catch, "pass", "stayed closed")])
    folders = _scripted(monkeypatch, {"baseline": [failed_baseline], "mutant": [missed]})
    baselines, results = run("mutant", tmp_path, [])
    assert len(folders) == 2 and baselines[0].exit_codes == [1] and results[0].missed
    assert "escaped: breaker-counts-4xx" in report.table(baselines, results)


# ------------------------------------------------------------------ fails_fast proves the breaker, not only speed


def _kill_without_breaker(enabled: bool) -> History:
    """A kill where every answer is fast (refused connections) and the breaker never opens."""
    h = History()
    h.append(Mark("load-start", T0))
    h.append(BreakerInfo(BREAKER, "closed", 5, 5.0, enabled, T0))
    h.append(FaultEvent(0, "start", "kill", "kill orders", ("orders",), T0 + 8))
    h.append(FaultEvent(0, "end", "kill", "kill orders", ("orders",), T0 + 18))
    for i in range(300):
        t = i * 0.1
        h.append(request("user", t, 0.01))
        during = 8 <= t < 18
        h.append(request("profile", t + 0.01, 0.004, 503 if during else 200, fallback="orders" if during else None))
    h.append(Mark("load-stop", T0 + 30))
    return h


def test_fails_fast_fails_when_the_breaker_is_on_but_never_opened_however_fast_the_answers(system):
    v = FailsFast(kind="fails_fast", breaker=BREAKER).evaluate(_kill_without_breaker(enabled=True), system)
    assert v.status == "fail" and "never opened, so it refused no call" in v.evidence and v.figures["p99_s"] < 0.01


def test_fails_fast_with_breakers_off_is_judged_on_speed_alone(system):
    v = FailsFast(kind="fails_fast", breaker=BREAKER).evaluate(_kill_without_breaker(enabled=False), system)
    assert v.status == "pass" and "never opened, so" not in v.evidence


def test_degraded_answers_served_counts_a_full_answer_as_good(system):
    """Near a kill's end the service is back before the fault's end is
    recorded: a full profile then is no failure to degrade."""
    from chaos.checks.fallback_served import FallbackServed

    h = _kill_without_breaker(enabled=True)
    check = FallbackServed(kind="fallback_served", degraded=True, routes=["profile"])
    assert check.evaluate(h, system).status == "fail"  # every answer during the fault a 503
    full = History()
    for e in h:
        full.append(e if getattr(e, "route", None) != "profile" else request("profile", e.t_start - T0, 0.004))
    v = check.evaluate(full, system)
    assert v.status == "pass" and "100.0% of" in v.evidence and "full or degraded 2xx" in v.evidence
