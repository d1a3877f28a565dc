"""Proof of delivery: when the load generator did not send what was asked,
every check that judges latency or success rates says unknown, with the
figures; the others, and runs recorded before the event existed, are judged
as before."""

from __future__ import annotations

import pytest

from chaos.checks import CHECKS, JudgesLoad, LoadCanFail, evaluate_all
from chaos.history import History, LoadDelivery
from chaos.history.queries import delivery_summary, load_delivery, not_delivered

from .histories import BREAKER, delivered, request, run

JUDGE_LOAD = {"breaker_opens", "fails_fast", "containment", "steady_state", "error_budget", "fallback_served"}
# Transition checks an overloaded system can fail: only their fails are gated.
FAIL_GATED = {"breaker_recovers", "breaker_stays_closed"}


def every_check():
    specs = [
        {"kind": "breaker_opens", "breaker": BREAKER, "calls": 10},
        {"kind": "fails_fast", "breaker": BREAKER},
        {"kind": "containment"},
        {"kind": "breaker_recovers", "breaker": BREAKER},
        {"kind": "breaker_reopens", "breaker": BREAKER},
        {"kind": "breaker_stays_closed", "breaker": BREAKER},
        {"kind": "steady_state"},
        {"kind": "error_budget", "route": "user", "budget": 0.01},
        {"kind": "fallback_served"},
        {"kind": "writes_durable"},
    ]
    return [CHECKS[s["kind"]].model_validate(s) for s in specs]


def test_exactly_the_checks_of_latency_and_success_rates_judge_the_load():
    assert {k for k, cls in CHECKS.items() if issubclass(cls, JudgesLoad)} == JUDGE_LOAD
    assert {k for k, cls in CHECKS.items() if issubclass(cls, LoadCanFail)} == FAIL_GATED


def test_delivered_load_leaves_every_verdict_as_it_was(system):
    before = evaluate_all(every_check(), run(), system)
    after = evaluate_all(every_check(), delivered(run(), asked=20, rate=19.5, lag_p99=0.05), system)
    assert after == before
    assert {v.status for v in before} >= {"pass", "fail"}  # a mix, so "unchanged" means something


def test_a_history_without_the_event_is_judged_as_before(system):
    h = run()
    assert load_delivery(h) is None and not_delivered(h) is None
    assert [v.status for v in evaluate_all(every_check(), h, system)][:2] == ["pass", "pass"]


@pytest.mark.parametrize("how, words", [
    ({"asked": 400, "rate": 290, "lag_p99": 2.2}, "load not delivered: asked 400 req/s, delivered 290; lag p99 2.2 s (bound 100 ms)"),
    ({"asked": 400, "rate": 290}, "load not delivered: asked 400 req/s, delivered 290; lag p99 2 ms"),
    ({"asked": 30, "rate": 30, "lag_p99": 0.25, "max_lag": 0.2}, "asked 30 req/s, delivered 30; lag p99 250 ms (bound 200 ms)"),
    ({"asked": 900, "rate": 700, "not_sent": 6000}, "6000 requests not sent: 1000 were already in flight, the generator's cap"),
    ({"asked": 1000, "rate": 800, "keeps_time_up_to": 900},
     "this load generator was measured keeping time up to 900 req/s, less than asked"),
])
def test_undelivered_load_makes_the_load_judging_checks_unknown_with_the_figures(system, how, words):
    checks = every_check()
    before = evaluate_all(checks, run(), system)
    after = evaluate_all(checks, delivered(run(), **how), system)
    for check, old, new in zip(checks, before, after):
        if check.kind in JUDGE_LOAD:
            assert new.status == "unknown" and new.evidence.startswith("load not delivered: ") and words in new.evidence, new
            assert new.figures["otherwise"] == old.status and old.evidence in new.evidence
        elif check.kind in FAIL_GATED and old.status == "fail":
            assert new.status == "unknown" and new.evidence.startswith("load not delivered: ") and words in new.evidence, new
            assert new.figures["otherwise"] == "fail" and old.evidence in new.evidence
        else:
            assert new == old


def test_an_overloaded_run_cannot_fail_a_breaker_for_not_recovering_but_its_recovery_still_passes(system):
    """order-down at 1000 req/s: trials timed out under the overload and the
    breaker reopened after the fault. That failure could be the load's own:
    unknown. A breaker seen recovering passed whatever the load."""
    recovers = CHECKS["breaker_recovers"].model_validate({"kind": "breaker_recovers", "breaker": BREAKER})
    reopened = [("closed", "open", 8.3), ("open", "half-open", 22.0), ("half-open", "open", 22.5)]
    (healthy,) = evaluate_all([recovers], run(transitions=reopened), system)
    assert healthy.status == "fail"  # delivered load: the verdict stands
    (overloaded,) = evaluate_all([recovers], delivered(run(transitions=reopened), asked=1000, rate=600), system)
    assert overloaded.status == "unknown" and overloaded.figures["otherwise"] == "fail"
    assert overloaded.evidence.startswith("load not delivered: asked 1000 req/s, delivered 600")
    (passed,) = evaluate_all([recovers], delivered(run(), asked=1000, rate=600), system)
    assert passed.status == "pass"


def test_a_system_unsteady_before_the_fault_does_not_excuse_a_breaker_that_opened(system):
    """Only the load's shortfall gates a transition check's fail: a breaker
    that opens on a healthy downstream is what breaker_stays_closed catches."""
    stays = CHECKS["breaker_stays_closed"].model_validate({"kind": "breaker_stays_closed", "breaker": BREAKER})
    steady = CHECKS["steady_state"].model_validate({"kind": "steady_state"})
    unsteady = run()
    for i in range(60):  # the user route failing before the first fault (at 8 s)
        unsteady.append(request("user", 1.0 + i * 0.1, 0.01, 500))
    verdicts = {v.check: v for v in evaluate_all([steady, stays], unsteady, system)}
    assert verdicts[steady.title()].figures.get("steady_before") is False, verdicts[steady.title()]
    assert verdicts[stays.title()].status == "fail"


def test_the_event_round_trips_through_history_jsonl(tmp_path):
    h = delivered(run(), asked=400, rate=290, lag_p99=2.2)
    h.write_jsonl(tmp_path / "h.jsonl")
    back = History.read_jsonl(tmp_path / "h.jsonl")
    assert list(back) == list(h) and isinstance(load_delivery(back), LoadDelivery)
    assert delivery_summary(load_delivery(back)).startswith("asked 400 req/s, delivered 290.0 req/s (8700 sent), lag p50 1 ms, p99 2.2 s")


def test_verdicts_json_the_report_header_and_the_console_show_delivery(tmp_path, system, monkeypatch):
    import io
    import json

    from chaos.history import Mark, Request
    from chaos.report import run_info, write_run_folder
    from chaos.spec.options import RunOptions
    from chaos.spec.scenario import load_scenario
    from chaos.ui.console import Console

    from .histories import T0

    scenario = load_scenario(system.scenarios_dir / "order-down.yaml", system)
    history = delivered(run(), asked=400, rate=290, lag_p99=2.2)
    verdicts = evaluate_all(scenario.checks, history, system)
    info = run_info(scenario, "r1", T0, 33.0, False, RunOptions("on", "local"))
    report = write_run_folder(tmp_path / "run", history, verdicts, info)
    load = json.loads((tmp_path / "run" / "verdicts.json").read_text())["load"]
    assert load["asked"] == 400 and load["delivered"] == 290 and load["lag_p99"] == 2.2 and load["delivered_ok"] is False
    assert load["reason"].startswith("load not delivered: asked 400 req/s, delivered 290; lag p99 2.2 s")
    page = report.read_text()
    assert 'id="load"' in page and "NOT DELIVERED" in page and "delivered 290; lag p99 2.2 s" in page

    live = History([Mark("load-start", T0, {"rate": 20})])
    for i in range(40):  # 20 req/s over the last 2 s, each started 3 ms late
        t = T0 + i * 0.05
        live.append(Request("user", "GET", "/u", t, t + 0.003, t + 0.01, 200))
    out = io.StringIO()
    console = Console(out, colour=False)
    console.t0 = T0
    monkeypatch.setattr("chaos.ui.console.time.time", lambda: T0 + 2.0)
    console.stats(live, 2.0)
    assert "sent 20.0 of 20 req/s, lag p99 3 ms" in out.getvalue()


def test_describe_says_what_delivered_means_with_the_scenarios_own_bounds(tmp_path, system):
    from chaos.spec.scenario import load_scenario

    source = (system.scenarios_dir / "order-down.yaml").read_text()
    path = tmp_path / "order-down.yaml"
    path.write_text(source.replace("  rate: 30\n", "  rate: 30\n  max_lag: 250ms\n  timeout: 2s\n"))
    plan = "\n".join(load_scenario(path, system).plan(system))
    assert "at least 95% of 30 req/s" in plan
    assert "lag p99 within 250 ms (load.max_lag)" in plan and "within 2 s (load.timeout)" in plan


def test_the_live_view_says_what_was_sent_before_anything_answers(monkeypatch):
    """order-down at 1000 req/s: answers took 3 s, and a view built from
    ended requests said "sent 0.0 of 1000 req/s" while 960 a second went out."""
    import io

    from chaos.history import LoadSending, Mark
    from chaos.ui.console import Console, delivery_now

    from .histories import T0

    live = History([Mark("load-start", T0, {"rate": 1000})])
    for i in range(1, 9):  # every half second: 480 more sent, none answered, 10 a second refused after 3 s
        live.append(LoadSending(T0 + i / 2, 480 * i, max(0, 10 * (i - 6)), min(480 * i, 2900), 0.316 if i > 4 else 0.02))
    out = io.StringIO()
    console = Console(out, colour=False)
    console.t0 = T0
    monkeypatch.setattr("chaos.ui.console.time.time", lambda: T0 + 4.0)
    console.stats(live, 2.0)
    line = out.getvalue()
    assert "no answers in the last 2 s" in line
    assert "sent 960.0 of 1000 req/s, lag p99 316 ms, 2900 in flight, 10.0 req/s not sent (the generator's cap)" in line
    # The first window: from the load's start, whose first request is not counted twice.
    assert delivery_now(live, T0 + 1.0, 2.0).startswith("sent 959.0 of 1000 req/s, lag p99 20 ms, 960 in flight")
