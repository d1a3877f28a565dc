"""no_unmarked_5xx: over the whole run, every 5xx answer the load got is a
marked fallback (the caller chose to answer so, and said so); a 5xx nobody
marked is an error that escaped: a crash, or a downstream's error passed on raw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from chaos.checks import Check, Verdict, blind_routes, register, unknown_routes
from chaos.history import History, Request
from chaos.spec.system import System


# Not JudgesLoad: a 5xx is a 5xx whatever the rate it was sent at.
@register
class NoUnmarked5xx(Check):
    kind: Literal["no_unmarked_5xx"]
    routes: list[str] | None = Field(default=None, description="default: every route the load sends")

    def title(self) -> str:
        return "no unmarked 5xx" + (f" on {', '.join(self.routes)}" if self.routes else "")

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return unknown_routes(self.routes, system)

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        return blind_routes(self.routes or [r for r, w in mix.items() if w > 0], system)

    def evaluate(self, history: History, system: System) -> Verdict:
        sample = [r for r in history.of(Request) if self.routes is None or r.route in self.routes]
        if not sample:
            return self.verdict("unknown", "no request was sent")
        raw = [r for r in sample if r.status is not None and r.status >= 500 and r.fallback is None]
        marked = sum(1 for r in sample if r.status is not None and r.status >= 500 and r.fallback is not None)
        if raw:
            by = Counter(f"{r.route} {r.status}" for r in raw)
            detail = ", ".join(f"{k} x{n}" for k, n in by.most_common(4))
            return self.verdict("fail", f"{len(raw)} of {len(sample)} answers were a 5xx without a fallback mark ({detail}); "
                                        f"{marked} marked fallback 5xx", unmarked=len(raw), marked=marked, requests=len(sample))
        return self.verdict("pass", f"none of {len(sample)} answers was an unmarked 5xx ({marked} marked fallback 5xx)",
                            unmarked=0, marked=marked, requests=len(sample))
