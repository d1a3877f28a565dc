"""partition: cut one edge, or isolate a service (every edge into and out of it).

A partition drops data silently, as a broken network does: callers see read
timeouts, not refusals (for refusals, use `down`). Made of Toxiproxy
`timeout` toxics (data stopped, connection held) on both streams of every
edge cut, so it works the same on every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pydantic

from chaos.faults import Fault, FaultContext, Handle, ToxicHandle, register
from chaos.spec.system import EdgeSpec, System


@register
class Partition(Fault):
    kind: Literal["partition"]
    edge: str | None = None
    service: str | None = None

    @pydantic.model_validator(mode="after")
    def _one_target(self) -> "Partition":
        if (self.edge is None) == (self.service is None):
            raise ValueError("give exactly one of edge: (cut one edge) or service: (isolate it)")
        return self

    def describe(self) -> str:
        if self.service:
            return f"partition: isolate {self.service} (every edge into and out of it drops data)"
        return f"partition: cut {self.edge} (data dropped, callers time out)"

    def cut(self, system: System) -> list[EdgeSpec]:
        if self.edge:
            return [system.edges[self.edge]]
        return [e for e in system.edges.values() if self.service in (e.source, e.target)]

    def targets(self, system: System) -> frozenset[str]:
        if self.service:
            return frozenset({self.service})
        return frozenset({system.edges[self.edge].target})  # type: ignore[index]

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.edge and self.edge not in system.edges:
            return [(("edge",), f"unknown edge '{self.edge}' (known: {', '.join(system.edges)})")]
        if self.service and self.service not in system.services:
            return [(("service",), f"unknown service '{self.service}' (known: {', '.join(system.services)})")]
        if self.service and not self.cut(system):
            return [(("service",), f"{self.service} has no edges to cut")]
        return []

    def apply(self, ctx: FaultContext) -> Handle:
        handles: list[ToxicHandle] = []
        try:
            for edge in self.cut(ctx.system):
                for stream in ("upstream", "downstream"):
                    name = f"chaos-{ctx.run_id}-partition-{stream}"
                    ctx.toxiproxy.add_toxic(edge.proxy, name, "timeout", {"timeout": 0}, stream=stream)
                    handles.append(ToxicHandle(ctx.toxiproxy, edge.proxy, name))
        except Exception:
            _Heal(handles).revert()  # nothing half-done
            raise
        return _Heal(handles)


@dataclass
class _Heal:
    handles: list[ToxicHandle]

    def revert(self) -> str:
        for h in self.handles:
            h.revert()
        return f"healed {len({h.proxy for h in self.handles})} edges"
