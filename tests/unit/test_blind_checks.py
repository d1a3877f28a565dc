"""A check that cannot see what it judges says unknown, with the reason, never
pass or fail: on a system file that gives it no way to see (no agent, no
fallback marking, no write route), and in a run that did not show it (an
agent that did not answer, a breaker the agent does not watch)."""

from __future__ import annotations

import pytest

from chaos.checks import CHECKS, evaluate_all
from chaos.history import History, Observation
from chaos.spec.system import System

from .histories import BREAKER, T0, run

ALL_BREAKER_KINDS = ["breaker_opens", "breaker_stays_closed", "breaker_recovers", "breaker_reopens", "fails_fast"]


def without_agent(system: System, *names: str) -> System:
    services = {n: (s.model_copy(update={"agent": None}) if n in names else s) for n, s in system.services.items()}
    return System(system.spec.model_copy(update={"services": services}), system.path, list(system.proxies.values()))


def check(kind: str, **fields):
    return CHECKS[kind](kind=kind, **fields)


@pytest.mark.parametrize("kind", ALL_BREAKER_KINDS)
def test_a_breaker_in_a_service_without_an_agent_is_unknown_on_any_history(system, kind):
    blind = without_agent(system, "gateway")
    for history in (run(), run(opens_at=None), History()):
        (v,) = evaluate_all([check(kind, breaker=BREAKER)], history, blind)
        assert v.status == "unknown", v
        assert v.evidence.startswith("cannot be judged on this system: gateway declares no agent")


@pytest.mark.parametrize("kind", ALL_BREAKER_KINDS)
def test_a_breaker_never_observed_is_unknown_with_the_agents_reason(system, kind):
    history = History([e for e in run(opens_at=None) if type(e).__name__ != "BreakerInfo"])
    history.append(Observation("gateway", False, "gateway's agent could not be read: HTTP 404", T0))
    (v,) = evaluate_all([check(kind, breaker=BREAKER)], history, system)
    assert v.status == "unknown"
    assert v.evidence == f"the breaker {BREAKER} was never observed: gateway's agent could not be read: HTTP 404"


def test_a_breaker_the_agent_does_not_watch_is_unknown_saying_what_it_watches(system):
    history = History([e for e in run() if type(e).__name__ != "BreakerInfo"])
    history.append(Observation("gateway", True, "contract 1, breakers users; no breaker named 'orders' (gateway->orders)", T0))
    (v,) = evaluate_all([check("breaker_opens", breaker=BREAKER)], history, system)
    assert v.status == "unknown" and "no breaker named 'orders'" in v.evidence


def test_the_same_checks_judge_when_they_can_see(system):
    verdicts = evaluate_all([check(k, breaker=BREAKER) for k in ("breaker_opens", "fails_fast", "breaker_recovers")], run(), system)
    assert [v.status for v in verdicts] == ["pass", "pass", "pass"]
    verdicts = evaluate_all([check("breaker_opens", breaker=BREAKER)], run(opens_at=None), system)
    assert verdicts[0].status == "fail"  # seen, and it never opened: that is a fact


def test_fallback_checks_are_unknown_when_nobody_marks_fallbacks(system):
    blind = without_agent(system, "gateway")
    (v,) = evaluate_all([check("fallback_served")], run(), blind)
    assert v.status == "unknown" and "fallback answers on" in v.evidence and "no fallback: rule" in v.evidence
    (v,) = evaluate_all([check("error_budget", route="profile", budget=0.5)], run(), blind)
    assert v.status == "unknown"
    (v,) = evaluate_all([check("error_budget", route="profile", budget=0.5, fallback_counts=True)], run(), blind)
    assert v.status in ("pass", "fail")  # every 5xx counts alike: nothing to tell apart


def test_a_declared_fallback_rule_makes_them_visible_again(system):
    from chaos.spec.system import FallbackSpec

    blind = without_agent(system, "gateway")
    gateway = blind.services["gateway"].model_copy(update={"fallback": FallbackSpec(status=[503])})
    seeing = System(blind.spec.model_copy(update={"services": {**blind.services, "gateway": gateway}}), system.path,
                    list(system.proxies.values()))
    assert all(seeing.fallback_visible(r) for r in seeing.routes)
    (v,) = evaluate_all([check("fallback_served")], run(), seeing)
    assert v.status == "pass"


def test_writes_durable_is_unknown_when_the_load_sends_no_write(system):
    (v,) = evaluate_all([check("writes_durable")], run(), system, {"user": 1, "place-order": 0})
    assert v.status == "unknown" and "sends none of the write routes (place-order, register)" in v.evidence
    (v,) = evaluate_all([check("writes_durable")], run(), system, {"user": 1, "place-order": 1})
    assert v.status == "pass"


def test_a_scenario_warns_of_its_blind_checks_before_anything_starts(system, tmp_path, capsys):
    from chaos.cli import main
    from chaos.spec.scenario import load_scenario

    blind = without_agent(system, "gateway")
    scenario = load_scenario(system.scenarios_dir / "order-down.yaml", blind)
    warnings = scenario.blind_spots(blind)
    assert len(warnings) == 4  # opens, fails fast, profile degraded, recovers; containment and writes are fine
    assert all("will be UNKNOWN: " in w and "gateway declares no agent" in w for w in warnings)
    assert any("[UNKNOWN: " in line for line in scenario.plan(blind))
    assert main(["--system", str(system.path), "run", "order-down", "--dry-run"]) == 0
    assert "warning:" not in capsys.readouterr().out  # the sample shop's checks can all see
