"""breaker_opens: the breaker on the faulted edge opens soon after the fault starts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import JudgesLoad, Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import Window, breaker_info, state_windows
from chaos.history.workers import Workers, describe_split, first_opens
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
        workers = self.workers(history, system, fault)
        if workers is not None and workers.many:
            return self._judge_workers(history, system, fault, workers)
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

    def _judge_workers(self, history: History, system: System, fault: Window, workers: Workers) -> Verdict:
        """Several workers, each with its own copy of the breaker: the service's
        breaker is open only once every worker's is, so the delay is the last
        worker's; a worker that stayed closed fails it, one never seen makes it unknown."""
        # An unseen worker may have tripped unrecorded (its agent could not
        # share): it counts neither way, only against a pass.
        seen = tuple(p for p in workers.pids if p not in workers.unseen)
        opened = first_opens(history, self.breaker, seen, fault.start)
        split = describe_split(self.breaker, opened, fault.start)
        tripped = [at for at in opened.values() if at is not None]
        figures = {"workers": len(workers.pids), "workers_opened": len(tripped)}
        if 0 < len(tripped) < len(opened):
            return self.verdict("fail", f"per-process breakers: {split} during the fault ({fault.label})", **figures)
        if workers.unseen:
            return self.verdict("unknown", f"{len(workers.unseen)} of {len(workers.pids)} workers never showed their "
                                f"breaker (pids {', '.join(map(str, workers.unseen))}); of the others, {split}", **figures)
        if not tripped:
            return self.verdict("fail", f"{self.breaker} never opened in any of {len(opened)} workers during the fault "
                                f"({fault.label}, {fault.length:.1f} s)", **figures)
        last = max(tripped)
        delay = last - fault.start
        routes = set(system.routes_depending_on(frozenset({self.target(system)})))
        calls = sum(1 for r in history.of(Request) if r.route in routes and fault.start <= r.t_start < last)
        ok = delay <= self.within and (self.calls is None or calls <= self.calls)
        bound = f"bound {self.within:g} s" + (f" and {self.calls} calls" if self.calls else "")
        return self.verdict(
            "pass" if ok else "fail",
            f"breaker {self.breaker} open in all {len(opened)} workers {delay:.2f} s and {calls} calls after the fault "
            f"started ({fault.label}; the first at +{min(tripped) - fault.start:.2f} s); {bound}",
            delay_s=round(delay, 4), bound_s=self.within, calls=calls, **figures)
