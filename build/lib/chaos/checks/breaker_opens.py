"""breaker_opens: the breaker on the faulted edge opens soon after the fault starts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import JudgesLoad, Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import breaker_info, state_windows
from chaos.history import History, Request
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
# JudgesLoad: a breaker trips after so many failed calls, so how soon it opens
# (and the `calls` it took) depends on the rate of requests that reached it.
class BreakerOpens(BreakerCheck, JudgesLoad):
    kind: Literal["breaker_opens"]
    within: Seconds = 3.0
    calls: int | None = Field(default=None, ge=1, description="also: opens within this many requests that needed the target")

    def title(self) -> str:
        calls = f" and {self.calls} calls" if self.calls else ""
        return f"breaker {self.breaker} opens within {self.within:g} s{calls}"

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = self.faults(history, system)
        if not faults:
            return self.verdict("unknown", f"no fault in this run touched {self.target(system)}")
        fault = faults[0]
        info = breaker_info(history, self.breaker)
        if info is not None and not info.enabled:
            return self.verdict("fail", f"breakers are off: {self.breaker} cannot open", enabled=False)
        opened = [w for w in state_windows(history, self.breaker, "open") if w.start >= fault.start]
        if not opened:
            calls = sum(1 for r in history.of(Request) if fault.holds(r.t_start))
            return self.verdict(
                "fail",
                f"{self.breaker} never opened during the fault ({fault.label}, {fault.length:.1f} s, {calls} requests sent)",
            )
        delay = opened[0].start - fault.start
        routes = set(system.routes_depending_on(frozenset({self.target(system)})))
        calls = sum(1 for r in history.of(Request) if r.route in routes and fault.start <= r.t_start < opened[0].start)
        ok = delay <= self.within and (self.calls is None or calls <= self.calls)
        bound = f"bound {self.within:g} s" + (f" and {self.calls} calls" if self.calls else "")
        return self.verdict(
            "pass" if ok else "fail",
            f"breaker {self.breaker} opened {delay:.2f} s and {calls} calls after the fault started ({fault.label}); {bound}",
            delay_s=round(delay, 4),
            bound_s=self.within,
            calls=calls,
        )
