"""containment: routes that do not need the faulted services keep their success
rate and stay near their baseline latency while the fault lasts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, register, unknown_routes
from chaos.history.queries import Window, fault_windows, load_start, ms, percentile, requests_in, sent_to, success_rate
from chaos.history import FaultEvent, History
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
# JudgesLoad: success rate and p99 against the baseline, both read from the
# load's requests; a generator falling behind looks like a system slowing down.
class Containment(Check, JudgesLoad):
    kind: Literal["containment"]
    routes: list[str] | None = Field(default=None, description="default: every route that needs no faulted service")
    grace: Seconds = Field(default=3.0, description="skipped at the fault's start: the time a breaker needs to trip")
    warmup: Seconds = Field(default=1.0, description="skipped at the start of load")
    max_success_drop: float = Field(default=0.01, ge=0, le=1, description="success rate may fall this much below baseline")
    p99_factor: float = Field(default=3.0, ge=1)
    p99_slack: Seconds = Field(default=0.25, description="p99 may grow to max(baseline x factor, baseline + slack)")
    min_requests: int = Field(default=10, ge=1)

    def title(self) -> str:
        return "unaffected routes contained" if self.routes is None else f"{', '.join(self.routes)} contained"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return unknown_routes(self.routes, system)

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = fault_windows(history)
        if not faults:
            return self.verdict("unknown", "no fault in this run")
        faulted = frozenset(t for e in history.of(FaultEvent) for t in e.targets)
        routes = self.routes or sent_to(history, system.routes_independent_of(faulted))
        if not routes:
            return self.verdict("unknown", f"every route needs one of {', '.join(sorted(faulted))}")
        base = requests_in(history, routes, [Window(load_start(history) + self.warmup, faults[0].start)])
        # The whole incident, from the first fault (past the grace) to the last
        # one's end: flapping faults leave gaps, but the damage they do does not.
        # It ends when undoing the last fault began: starting a killed service
        # again is the toolkit's doing, and its boot (a CPU burst on a small
        # machine) slows every route alike, the fault's or not.
        incident = Window(faults[0].start + self.grace, max(f.acting_end for f in faults))
        during = requests_in(history, routes, [incident])
        if len(base) < self.min_requests or len(during) < self.min_requests:
            return self.verdict(
                "unknown", f"too few requests on {', '.join(routes)}: {len(base)} at baseline, {len(during)} during the fault"
            )
        base_ok, fault_ok = success_rate(base, system.answered_as_meant), success_rate(during, system.answered_as_meant)
        base_p99, fault_p99 = percentile([r.latency for r in base], 99), percentile([r.latency for r in during], 99)
        bound = max(base_p99 * self.p99_factor, base_p99 + self.p99_slack)
        kept_rate = fault_ok >= base_ok - self.max_success_drop
        kept_speed = fault_p99 <= bound
        evidence = (
            f"{', '.join(routes)} during the fault: success {fault_ok:.1%} (baseline {base_ok:.1%}), "
            f"p99 {ms(fault_p99)} (baseline {ms(base_p99)}, bound {ms(bound)}); {len(during)} requests"
        )
        return self.verdict(
            "pass" if kept_rate and kept_speed else "fail",
            evidence,
            success=round(fault_ok, 4),
            baseline_success=round(base_ok, 4),
            p99_s=round(fault_p99, 4),
            baseline_p99_s=round(base_p99, 4),
            bound_s=round(bound, 4),
            requests=len(during),
        )
