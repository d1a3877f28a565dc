"""A latency fail that the machine alone explains is unknown, not a fail
(chaos.checks._machine): the system's own units waited for a CPU so much
longer than at baseline that their work took as much longer, and they asked
for no more CPU. A fail the machine does not explain stays a fail: the
stretch fell (the system waited on a downstream, not on a CPU), the system
burned more CPU itself, or the latency is past even the stretched bound."""

from __future__ import annotations

from chaos.checks._machine import Share, Stretch, share
from chaos.checks.containment import Containment
from chaos.checks.steady_state import SteadyState
from chaos.history import FaultEvent, History, Mark, Pressure
from chaos.history.queries import Window

from .histories import T0, request, run

CONTAIN = Containment(kind="containment")
STEADY = SteadyState(kind="steady_state", routes=["user"])


def with_units(history: History, phases: list[tuple[float, float, float, float]]) -> History:
    """Adds a 1 s Pressure sample for every second of each (start, end, cores, wait) phase, run-relative."""
    for start, end, cores, wait in phases:
        t = start + 1.0
        while t <= end + 1e-9:
            history.append(Pressure(T0 + t, 1.0, 0.8, 0.0, cores, wait * cores))  # units_wait: thread-s a second
            t += 1.0
    return history


def test_the_factor_is_the_stretchs_growth_less_the_units_own_growth_in_cpu():
    before, hogged = Share(cores=1.0, wait=2.0, seconds=7), Share(cores=1.0, wait=5.0, seconds=9)
    assert Stretch(hogged, before).factor == 2.0  # 6 / 3
    burning = Share(cores=2.0, wait=5.0, seconds=9)
    assert Stretch(burning, before).factor == 1.0  # the growth is its own doing
    waiting = Share(cores=0.5, wait=0.5, seconds=9)
    assert Stretch(waiting, before).factor == 1.0  # never below 1


def test_only_whole_samples_inside_the_windows_count():
    h = with_units(History(), [(0, 4, 1.0, 2.0), (4, 8, 1.0, 6.0)])
    got = share(h, [Window(T0 + 0.5, T0 + 4.0)])  # samples ending at 2, 3, 4 (1 starts before the window)
    assert got is not None and got.seconds == 3.0 and abs(got.wait - 2.0) < 1e-9 and got.cores == 1.0
    assert share(h, [Window(T0 + 20, T0 + 30)]) is None
    assert share(run(), [Window(T0, T0 + 30)]) is None  # no units figures: no share


def test_containment_slower_only_as_the_machine_explains_is_unknown(system):
    # user reads 600 ms during the fault against a 260 ms bound; the units'
    # work stretched from 3x (before) to 7x during the fault, at the same CPU.
    h = with_units(run(user_latency_during=0.6), [(0, 8, 1.0, 2.0), (8, 18, 1.0, 6.0), (18, 30, 1.0, 2.0)])
    v = CONTAIN.evaluate(h, system)
    assert v.status == "unknown", v.evidence
    assert "this machine alone made their work take 2.33x as long" in v.evidence and "otherwise fail:" in v.evidence
    assert v.figures["machine_factor"] == 2.333 and v.figures["p99_s"] == 0.6


def test_containment_still_fails_past_the_stretched_bound(system):
    h = with_units(run(user_latency_during=0.9), [(0, 8, 1.0, 2.0), (8, 18, 1.0, 6.0), (18, 30, 1.0, 2.0)])
    assert CONTAIN.evaluate(h, system).status == "fail"  # 900 ms > 260 ms x 2.33


def test_containment_still_fails_when_the_system_burned_the_cpu_itself(system):
    # The same stretch, but the units ran on twice the CPU: their own doing (a retry storm).
    h = with_units(run(user_latency_during=0.6), [(0, 8, 1.0, 2.0), (8, 18, 2.0, 6.0), (18, 30, 1.0, 2.0)])
    v = CONTAIN.evaluate(h, system)
    assert v.status == "fail" and v.figures["machine_factor"] == 1.167, v.evidence


def test_containment_still_fails_when_the_system_waited_rather_than_worked(system):
    # Breakers off: threads wait out timeouts, the units' stretch falls.
    h = with_units(run(user_latency_during=0.6), [(0, 8, 1.0, 2.0), (8, 18, 0.5, 1.0), (18, 30, 1.0, 2.0)])
    v = CONTAIN.evaluate(h, system)
    assert v.status == "fail" and v.figures["machine_factor"] == 1.0, v.evidence


def test_containment_fails_on_success_whatever_the_machine(system):
    h = with_units(run(user_status_during=503), [(0, 8, 1.0, 2.0), (8, 18, 1.0, 9.0), (18, 30, 1.0, 2.0)])
    assert CONTAIN.evaluate(h, system).status == "fail"


def slow_after(after_latency: float, phases: list[tuple[float, float, float, float]]) -> History:
    """user reads at 100 ms before a fault at 8-10 s; after it (past the 8 s settle), `after_latency`."""
    h = History()
    h.append(Mark("load-start", T0))
    h.append(FaultEvent(0, "start", "latency", "latency on users", ("users",), T0 + 8.0))
    h.append(FaultEvent(0, "end", "latency", "latency on users", ("users",), T0 + 10.0))
    t = 0.0
    while t < 30.0:
        h.append(request("user", t, 0.1 if t < 18.0 else after_latency))
        t += 0.1
    h.append(Mark("load-stop", T0 + 30.0))
    return with_units(h, phases)


def test_steady_state_after_slower_only_as_the_machine_explains_is_unknown(system):
    h = slow_after(0.8, [(0, 8, 1.0, 2.0), (8, 18, 1.0, 2.0), (18, 30, 1.0, 5.0)])
    v = STEADY.evaluate(h, system)
    assert v.status == "unknown" and "otherwise fail:" in v.evidence and v.figures["machine_factor"] == 2.0, v.evidence
    assert "(p99 <= 1000 ms)" in v.evidence


def test_steady_state_after_still_fails_when_the_machine_does_not_explain_it(system):
    assert STEADY.evaluate(slow_after(1.2, [(0, 8, 1.0, 2.0), (8, 18, 1.0, 2.0), (18, 30, 1.0, 5.0)]), system).status == "fail"
    assert STEADY.evaluate(slow_after(0.8, [(0, 8, 1.0, 2.0), (8, 18, 1.0, 2.0), (18, 30, 1.0, 2.0)]), system).status == "fail"
    assert STEADY.evaluate(slow_after(0.8, []), system).status == "fail"  # no figures: judged as before
