"""steady_state: the system is healthy before the first fault and healthy
again after recovery: every route (or the ones named) answers with its
usual success rate and speed.

`min_success` and `p99_below` say what a steady window looks like: at most
1 - min_success of its answers not as meant, and at most 1% slower than
p99_below. A window breaks that only when it holds more such answers than
chance gives a system keeping to those shares in under `significance` (1%)
of windows (a one-sided binomial test): a window of 87 requests is judged
on its 87th-slowest answer, and one slow moment of a small machine then
decides it (seen in a soak: inventory-flaky's p99 326 ms before the fault,
582 ms after it against 500 ms, 100% success both times). A system that
has not recovered breaks it by far: user reads at 16% success, or a p99 of
3 s, come out at once in 10^100 windows.

The part before the fault is the experiment's precondition, as in the
principles of chaos engineering (and chaostoolkit's steady-state hypothesis):
a system already outside its steady state before any fault, because it is
broken or because the machine cannot carry the load, shows nothing about
what the fault did. Then this check is unknown, and so is every check of the
run that judges the load (`evaluate_all`), with the figures that say so.
Seen in a soak on a host twice as slow as usual under the soak's hogs:
p99 1.3 s before inventory-flaky's fault (10 ms on a quiet machine), the
fault's failed writes retried, and the gateway then collapsed into timeouts
that outlasted the fault: a fail of containment and of this check that the
shop's code had no part in. Only a system that was steady before and is not
after fails.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, register, unknown_routes
from chaos.checks._machine import stretch
from chaos.history.queries import (Window, chance_of_at_least, fault_windows, load_start, ms, odds, percentile,
                                   requests_in, run_end, success_rate)
from chaos.history import History
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
# JudgesLoad: success rates and p99 before and after the faults.
class SteadyState(Check, JudgesLoad):
    kind: Literal["steady_state"]
    routes: list[str] | None = None
    min_success: float = Field(default=0.99, ge=0, le=1)
    p99_below: Seconds = 0.5
    warmup: Seconds = 1.0
    significance: float = Field(
        default=0.01, gt=0, lt=1,
        description="a window breaks the steady state only if chance gives as many failed or slow answers to a "
        "system keeping to min_success and p99_below in fewer windows than this (one-sided binomial test)",
    )
    settle: Seconds = Field(default=8.0, description="after the last fault ends: time for breakers to close")

    def title(self) -> str:
        return "steady state before and after"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return unknown_routes(self.routes, system)

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = fault_windows(history)
        if not faults:
            return self.verdict("unknown", "no fault in this run")
        routes = self.routes or list(system.routes)
        before_window = Window(load_start(history) + self.warmup, faults[0].start)
        before = requests_in(history, routes, [before_window])
        after_start = max(f.end for f in faults) + self.settle
        after = requests_in(history, routes, [Window(after_start, run_end(history))])
        if len(before) < 10 or len(after) < 10:
            return self.verdict("unknown", f"too few requests to judge: {len(before)} before, {len(after)} after "
                                           f"(the run needs {self.settle:g} s of load after the last fault)")
        parts, steady = {}, {}
        for name, sample in (("before", before), ("after", after)):
            ok, p99 = success_rate(sample, system.answered_as_meant), percentile([r.latency for r in sample], 99)
            chances = self._chances(sample, system, self.p99_below)
            steady[name] = all(chance >= self.significance for _, chance in chances.values())
            over = [f"{count} {what}, {_odds(chance)}" for what, (count, chance) in chances.items()
                    if (what == "not as meant" and ok < self.min_success) or (what != "not as meant" and p99 > self.p99_below)]
            parts[name] = (f"{name}: success {ok:.1%}, p99 {ms(p99)} ({len(sample)} requests"
                           + (f"; {'; '.join(over)}" if over else "") + ")")
        bound = (f"bounds: success >= {self.min_success:.0%}, p99 <= {ms(self.p99_below)}, "
                 f"unless chance gives as many failed or slow answers in {self.significance:.0%} of windows or more")
        if not steady["before"]:
            return self.verdict("unknown", f"{unsteady(parts['before'] + '; ' + bound)}; {parts['after']}",
                                steady_before=False)
        evidence = f"{parts['before']}; {parts['after']}; {bound}"
        if not steady["after"]:
            machine = stretch(history, [Window(after_start, run_end(history))], [before_window])
            if machine is not None and self._steady(after, system, self.p99_below * machine.factor):
                # Slower only by as much as the machine alone explains (chaos.checks._machine).
                return self.verdict("unknown", (
                    f"{machine.words('after the fault', 'before it')}, and the time after is steady with the speed "
                    f"bound stretched so (p99 <= {ms(self.p99_below * machine.factor)}): whether the system recovered "
                    f"cannot be told from what the machine did (otherwise fail: {evidence})"),
                    steady_before=True, machine_factor=round(machine.factor, 3))
        return self.verdict("pass" if steady["after"] else "fail", evidence, steady_before=True)

    def _chances(self, sample: list, system: System, p99_below: float) -> dict[str, tuple[int, float]]:
        """{what: (how many answers, the chance a steady system gives as many)}
        for answers not as meant and answers slower than `p99_below`."""
        failed = sum(not system.answered_as_meant(r) for r in sample)
        slow = sum(r.latency > p99_below for r in sample)
        return {"not as meant": (failed, chance_of_at_least(failed, len(sample), 1 - self.min_success)),
                f"over {ms(p99_below)}": (slow, chance_of_at_least(slow, len(sample), 0.01))}

    def _steady(self, sample: list, system: System, p99_below: float) -> bool:
        """Whether `sample` keeps to the steady state with `p99_below` as its speed bound."""
        return all(chance >= self.significance for _, chance in self._chances(sample, system, p99_below).values())


def _odds(p: float) -> str:
    """'chance gives as many in 58% of windows', 'chance gives as many once in 1.2e+05 windows'."""
    return f"chance gives as many {odds(p, 'windows')}" if p > 0 else "chance never gives as many"


def unsteady(figures: str) -> str:
    return (f"the system was not in its steady state before the first fault ({figures}), so what the fault did "
            f"cannot be told from what was there before (a broken system, or a machine that cannot carry the load)")
