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


# Found by chaos explore on the healthy shop: orders (which holds
# orders->inventory) was stopped while its breaker was open; the restarted
# orders holds a new, closed breaker, but the old one's last transition said
# open, and breaker_recovers failed "did not close". A restart is now a state.
def _restarted(reopened_after: bool = False, restart_at: float = 20.0):
    from chaos.history import BreakerInfo, FaultEvent, Transition

    from .histories import T0

    h = run(targets=("inventory",), transitions=[])
    b = "orders->inventory"
    h.append(BreakerInfo(b, "closed", 5, 2.0, True, T0))
    h.append(Transition(b, "closed", "open", T0 + 8.3, T0 + 8.3))
    h.append(FaultEvent(1, "start", "stop", "stop orders", ("orders",), T0 + 9.0))
    h.append(FaultEvent(1, "end", "stop", "stop orders", ("orders",), T0 + restart_at))
    h.append(BreakerInfo(b, "closed", 5, 2.0, True, T0 + restart_at + 0.3))  # the watcher reads the new process
    if reopened_after:
        h.append(Transition(b, "closed", "open", T0 + restart_at + 1.0, T0 + restart_at + 1.0))
    return h


def test_breaker_recovers_counts_a_restart_of_its_service_as_closed(system):
    from chaos.checks.breaker_recovers import BreakerRecovers

    v = BreakerRecovers(kind="breaker_recovers", breaker="orders->inventory").evaluate(_restarted(), system)
    # Judged from the end of the last fault on inventory or on orders (its holder).
    assert v.status == "pass" and "0.30 s after the fault ended by a restart of orders" in v.evidence


def test_breaker_recovers_still_fails_a_new_breaker_left_open(system):
    from chaos.checks.breaker_recovers import BreakerRecovers

    v = BreakerRecovers(kind="breaker_recovers", breaker="orders->inventory").evaluate(_restarted(reopened_after=True), system)
    assert v.status == "fail" and "last seen open" in v.evidence


def test_state_windows_end_an_open_window_at_a_restart():
    from chaos.history.queries import state_windows

    (w,) = state_windows(_restarted(), "orders->inventory", "open")
    assert round(w.end - w.start, 2) == round(20.3 - 8.3, 2)
