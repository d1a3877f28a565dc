"""error_budget: over the whole run, a route's share of failed answers (no
answer, or a 5xx that no fallback made) stays within its budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, blind_routes, register, unknown_routes
from chaos.history import History, Request
from chaos.spec.system import System


def failed(r: Request, fallback_counts: bool) -> bool:
    if r.status is None:
        return True
    if r.status >= 500:
        return fallback_counts or r.fallback is None
    return False


@register
# JudgesLoad: a share of failed answers; a client too busy to read its answers
# in time turns them into its own timeouts.
class ErrorBudget(Check, JudgesLoad):
    kind: Literal["error_budget"]
    route: str
    budget: float = Field(ge=0, le=1, description="largest share of failed answers allowed, e.g. 0.01")
    fallback_counts: bool = Field(default=False, description="count fallback 5xx answers as failures too")

    def title(self) -> str:
        return f"{self.route} within its error budget of {self.budget:.1%}"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("route",), message) for _, message in unknown_routes([self.route], system)]

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        if self.fallback_counts or self.route not in system.routes:
            return []  # every 5xx counts alike: nothing to tell apart
        return blind_routes([self.route], system)

    def evaluate(self, history: History, system: System) -> Verdict:
        sample = [r for r in history.of(Request) if r.route == self.route]
        if not sample:
            return self.verdict("unknown", f"no request was sent to {self.route}")
        bad = [r for r in sample if failed(r, self.fallback_counts)]
        share = len(bad) / len(sample)
        return self.verdict("pass" if share <= self.budget else "fail",
                            f"{len(bad)} of {len(sample)} answers on {self.route} failed ({share:.2%}; budget {self.budget:.1%})",
                            share=round(share, 4), requests=len(sample))
