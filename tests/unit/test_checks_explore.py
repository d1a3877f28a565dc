"""The checks chaos explore adds or narrows: no_unmarked_5xx, and fails_fast
with open_only (judged only while the breaker is open)."""

from chaos.checks.fails_fast import FailsFast
from chaos.checks.no_unmarked_5xx import NoUnmarked5xx
from chaos.history import History

from .histories import BREAKER, request, run

NO_5XX = NoUnmarked5xx(kind="no_unmarked_5xx")


def test_no_unmarked_5xx_passes_when_every_5xx_is_a_marked_fallback(system):
    v = NO_5XX.evaluate(run(opens_at=None), system)  # during the fault: 503s marked fallback "orders"
    assert v.status == "pass" and v.figures["marked"] > 0 and v.figures["unmarked"] == 0


def test_no_unmarked_5xx_fails_on_a_raw_5xx_and_names_route_and_status(system):
    h = run(opens_at=None)
    h.append(request("user", 3.0, 0.01, 500))
    h.append(request("user", 3.1, 0.01, 500))
    v = NO_5XX.evaluate(h, system)
    assert v.status == "fail" and v.figures["unmarked"] == 2 and "user 500 x2" in v.evidence


def test_no_unmarked_5xx_counts_no_answer_as_no_5xx_and_is_unknown_without_requests(system):
    h = History()
    assert NO_5XX.evaluate(h, system).status == "unknown"
    h.append(request("user", 1.0, 3.0, None))  # a timeout: no status, not a 5xx (containment judges it)
    assert NO_5XX.evaluate(h, system).status == "pass"


def test_fails_fast_open_only_is_unknown_when_the_breaker_never_opened(system):
    h = run(opens_at=None)
    plain = FailsFast(kind="fails_fast", breaker=BREAKER).evaluate(h, system)
    narrowed = FailsFast(kind="fails_fast", breaker=BREAKER, open_only=True).evaluate(h, system)
    assert plain.status == "fail"  # judged the fault window: 1 s answers
    assert narrowed.status == "unknown" and "never open" in narrowed.evidence


def test_fails_fast_open_only_still_fails_slow_answers_while_open(system):
    v = FailsFast(kind="fails_fast", breaker=BREAKER, open_only=True).evaluate(run(affected_latency=0.4), system)
    assert v.status == "fail" and v.figures["p99_s"] == 0.4
