"""steady_state: the system is healthy before the first fault and healthy
again after recovery: every route (or the ones named) answers with its
usual success rate and speed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, register, unknown_routes
from chaos.history.queries import Window, fault_windows, load_start, ms, percentile, requests_in, run_end, success_rate
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
        before = requests_in(history, routes, [Window(load_start(history) + self.warmup, faults[0].start)])
        after_start = max(f.end for f in faults) + self.settle
        after = requests_in(history, routes, [Window(after_start, run_end(history))])
        if len(before) < 10 or len(after) < 10:
            return self.verdict("unknown", f"too few requests to judge: {len(before)} before, {len(after)} after "
                                           f"(the run needs {self.settle:g} s of load after the last fault)")
        parts, good = [], True
        for name, sample in (("before", before), ("after", after)):
            ok, p99 = success_rate(sample, system.answered_as_meant), percentile([r.latency for r in sample], 99)
            good &= ok >= self.min_success and p99 <= self.p99_below
            parts.append(f"{name}: success {ok:.1%}, p99 {ms(p99)} ({len(sample)} requests)")
        bound = f"bounds: success >= {self.min_success:.0%}, p99 <= {ms(self.p99_below)}"
        return self.verdict("pass" if good else "fail", "; ".join(parts) + f"; {bound}")
