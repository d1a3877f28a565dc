"""fallback_served: while the fault lasts, the routes that need the faulted
service answer with a full or a fallback/degraded answer (marked with
X-Fallback), not a raw error or a timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, blind_routes, register, unknown_routes
from chaos.history.queries import Window, fault_windows, requests_in, sent_to
from chaos.history import History, Request
from chaos.spec.model import Seconds
from chaos.spec.system import System


def handled(r: Request) -> bool:
    """A full answer, or one the fallback made: never a bare error."""
    return r.ok or (r.fallback is not None and r.status is not None)


@register
# JudgesLoad: a share of answers; late-started requests and client-side
# timeouts count against the system.
class FallbackServed(Check, JudgesLoad):
    kind: Literal["fallback_served"]
    routes: list[str] | None = Field(default=None, description="default: every route that needs a faulted service")
    min_share: float = Field(default=0.95, ge=0, le=1)
    degraded: bool = Field(default=False, description="require full or 2xx degraded answers (not 503 fallbacks)")
    grace: Seconds = Field(default=3.0, description="skipped at the fault's start: the time a breaker needs to trip")

    def title(self) -> str:
        return ("degraded answers served" if self.degraded else "fallback answers served") + (
            f" on {', '.join(self.routes)}" if self.routes else "")

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return unknown_routes(self.routes, system)

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        # Which routes the faults will touch is known only from the run; judge
        # the ones named, or every route the load sends.
        return blind_routes(self.routes or [r for r, w in mix.items() if w > 0], system)

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = fault_windows(history)
        if not faults:
            return self.verdict("unknown", "no fault in this run")
        targets = frozenset().union(*(f.targets for f in faults))
        routes = self.routes or sent_to(history, system.routes_depending_on(targets))
        sample = requests_in(history, routes, [Window(f.start + self.grace, f.end) for f in faults if f.length > self.grace])
        if len(sample) < 10:
            return self.verdict("unknown", f"only {len(sample)} requests on {', '.join(routes)} during the fault")
        if self.degraded:
            # A full answer is good too: the downstream may be back before
            # the fault's end is recorded (a killed service restarts first).
            good = [r for r in sample if r.ok or (r.status is not None and 200 <= r.status < 300 and r.fallback is not None)]
        else:
            good = [r for r in sample if handled(r)]
        share = len(good) / len(sample)
        raw = [r for r in sample if not handled(r)]
        kinds = sorted({r.error or str(r.status) for r in raw})
        what = "full or degraded 2xx" if self.degraded else "full or fallback"
        evidence = f"{share:.1%} of {len(sample)} answers on {', '.join(routes)} during the fault were {what}"
        if raw:
            evidence += f"; {len(raw)} raw errors ({', '.join(kinds[:4])})"
        return self.verdict("pass" if share >= self.min_share else "fail", evidence + f"; bound {self.min_share:.0%}",
                            share=round(share, 4), requests=len(sample))
