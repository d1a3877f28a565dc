"""replicas_replaced: after a fault takes replicas of a service down, the
scheduler has all of them running again within a bound.

Read from the replica events the runtime records from the engine (the swarm
runtime's task states): "the fault" is the first one on the service; the
service must lose a running replica after it started, and be back at the
count it wants within `within` seconds of the fault's start. A run without
replica events for the service (a runtime without replicas) says unknown."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import Check, Verdict, register
from chaos.history import History, Replica
from chaos.history.queries import fault_windows
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
class ReplicasReplaced(Check):
    kind: Literal["replicas_replaced"]
    service: str
    within: Seconds = Field(default=30.0, gt=0, description="from the fault's start until every replica runs again")

    def title(self) -> str:
        return f"{self.service}'s replicas replaced within {self.within:g} s"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.service not in system.services:
            return [(("service",), f"unknown service '{self.service}' (known: {', '.join(system.services)})")]
        return []

    def unseen(self, history: History, system: System) -> str | None:
        events = [r for r in history.of(Replica) if r.service == self.service]
        if not events:
            return (f"no replica events of {self.service} were recorded: the runtime does not run replicas "
                    "(RUNTIME=swarm does), or its watcher did not start")
        gap = next((r for r in events if r.state == "unobserved"), None)
        if gap is not None:
            return f"{self.service}'s replicas were not watched the whole run: {gap.detail}"
        return None

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = fault_windows(history, frozenset({self.service}))
        if not faults:
            return self.verdict("unknown", f"no fault in this run touched {self.service}")
        start = faults[0].start
        events = sorted((r for r in history.of(Replica) if r.service == self.service), key=lambda r: r.at)
        desired = events[0].desired
        lost = next((r for r in events if r.at >= start - 0.5 and r.running < r.desired), None)
        if lost is None:
            return self.verdict("unknown", f"{self.service} never ran fewer than its {desired} replicas after "
                                f"{faults[0].label} started, so no replacement could be timed")
        back = next((r for r in events if r.at > lost.at and r.running >= r.desired), None)
        if back is None:
            last = events[-1]
            return self.verdict("fail", f"{self.service} ran {last.running} of {last.desired} replicas at the last event "
                                f"({last.at - start:.1f} s after the fault started); bound {self.within:g} s", bound_s=self.within)
        took = back.at - start
        fewest = min(r.running for r in events if lost.at <= r.at <= back.at)
        evidence = (f"{self.service} fell to {fewest} of {desired} running replicas {max(0.0, lost.at - start):.2f} s after the "
                    f"fault started and ran {back.running} again {took:.1f} s after it (task replaced); bound {self.within:g} s")
        return self.verdict("pass" if took <= self.within else "fail", evidence, replaced_s=round(took, 3), bound_s=self.within,
                            fewest=fewest)
