"""fails_fast: while the breaker is open, the routes behind it answer at once,
with the fallback answer, instead of waiting out the read timeout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaos.checks import JudgesLoad, Verdict, register, unknown_routes
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import Window, ms, percentile, requests_in, state_windows
from chaos.history import History
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
# JudgesLoad: a p99 and a fallback share over the load's requests; a generator
# that starts requests late or not at all skews both.
class FailsFast(BreakerCheck, JudgesLoad):
    kind: Literal["fails_fast"]
    routes: list[str] | None = Field(default=None, description="default: every route that needs the breaker's downstream")
    p99_below: Seconds | None = Field(default=None, description="default: a fifth of the edge's read timeout")
    fallback_share: float = Field(default=0.95, ge=0, le=1, description="share of answers that must be the fallback")
    settle: Seconds = Field(
        default=0.5,
        description="skipped after the breaker opens: requests queued behind calls already in flight "
        "when it opened drain then (containment judges that queueing)",
    )
    grace: Seconds = Field(default=3.0, description="with no open window: how much of the fault's start to skip")
    min_requests: int = Field(default=10, ge=1)

    def title(self) -> str:
        return f"{self.breaker} fails fast"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return super().check_refs(system) + unknown_routes(self.routes, system)

    def evaluate(self, history: History, system: System) -> Verdict:
        routes = self.routes or system.routes_depending_on(frozenset({self.target(system)}))
        bound = self.p99_below if self.p99_below is not None else system.edge_read_timeout(self.breaker) / 5
        faults = self.faults(history, system)
        windows = [
            Window(w.start + self.settle, w.end)
            for w in state_windows(history, self.breaker, "open")
            if any(f.start <= w.start < f.end for f in faults) and w.length > self.settle
        ]
        where = "while open"
        if not windows:
            # No open window: judge the fault itself, past the time a breaker needs to trip.
            windows = [Window(f.start + self.grace, f.end) for f in faults if f.length > self.grace]
            where = "during the fault (the breaker never opened)"
        if not windows:
            return self.verdict("unknown", f"no fault touched {self.target(system)} long enough to judge")
        sample = requests_in(history, routes, windows)
        if len(sample) < self.min_requests:
            return self.verdict("unknown", f"only {len(sample)} requests on {', '.join(routes)} {where}; need {self.min_requests}")
        p99 = percentile([r.latency for r in sample], 99)
        fallback = sum(r.fallback is not None for r in sample) / len(sample)
        fast = p99 <= bound
        served = fallback >= self.fallback_share
        evidence = (
            f"p99 of {', '.join(routes)} {where}: {ms(p99)} (bound {ms(bound)}, read timeout "
            f"{ms(system.edge_read_timeout(self.breaker))}); {fallback:.0%} fallback answers over {len(sample)} requests"
        )
        return self.verdict(
            "pass" if fast and served else "fail",
            evidence,
            p99_s=round(p99, 4),
            bound_s=bound,
            fallback_share=round(fallback, 4),
            requests=len(sample),
        )
