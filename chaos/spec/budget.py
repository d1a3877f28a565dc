"""The timeout budget of a system file: warnings, not errors.

A caller's read timeout shorter than the wait behind the service it calls
is a cascade hazard. For an edge A->B with read timeout tA, when B itself
calls C with read timeout tB, B may legitimately take up to tB (plus its own
work) before it answers, falling back when C is slow. With tA < tB, A gives
up on B while B is still waiting on C: A's breaker counts a failure for B
doing just what it should, and B's fallback never reaches A.

Only a warning: the system may still be what its authors want (B may call C
only on some routes), so loading never refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaos.spec.source import format_loc
from chaos.spec.system import EdgeSpec, System


@dataclass(frozen=True)
class SpecWarning:
    """Something in a file that works but is likely wrong, with where it is."""

    path: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = str(self.path) + (f":{self.line}" if self.line is not None else "")
        return ": ".join(p for p in (where, self.field, self.message) if p)


def timeout_budget(system: System) -> list[SpecWarning]:
    """One warning per edge A->B whose read timeout is shorter than B's own
    longest wait on a service it calls (the longest read timeout among B's
    edges), naming the system file, the edge's line and its read_timeout
    field. Empty when every caller waits at least as long as the callee may
    wait behind it. Pure: reads only `system` (and its source's lines)."""
    edges = system.spec.edges
    out = []
    for i, edge in enumerate(edges):
        behind = longest_wait(edge.target, edges)
        if behind is None or edge.read_timeout >= behind.read_timeout:
            continue
        loc = ("edges", i, "read_timeout")
        line = system.source.line_of(loc) if system.source is not None else None
        out.append(SpecWarning(
            system.path, line, format_loc(loc),
            f"{edge.name}: read timeout {_s(edge.read_timeout)} is shorter than {possessive(edge.target)} own wait on "
            f"{behind.target} ({behind.name} read timeout {_s(behind.read_timeout)}): {edge.source} gives up before "
            f"{edge.target} can fail over; make it at least {_s(behind.read_timeout)} plus {edge.target}'s own work"))
    return out


def longest_wait(service: str, edges: list[EdgeSpec]) -> EdgeSpec | None:
    """The edge out of `service` with the longest read timeout: how long the
    service may wait on others before it answers; None when it calls nobody."""
    # B's own timeout caps what C does behind it, so B's worst wait is its
    # longest read timeout, not a sum down the chain.
    # A background edge (a relay, a worker) holds up no answer of the service.
    calls = [e for e in edges if e.source == service and not e.background]
    return max(calls, key=lambda e: e.read_timeout, default=None)


def possessive(name: str) -> str:
    """orders -> orders'; gateway -> gateway's."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _s(seconds: float) -> str:
    return f"{seconds:g} s"
