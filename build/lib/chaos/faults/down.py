"""down: the edge's proxy is disabled; callers' connections are refused."""

from dataclasses import dataclass
from typing import Literal

from chaos.faults import EdgeFault, FaultContext, Handle, register
from chaos.clients.toxiproxy import Toxiproxy


@register
class Down(EdgeFault):
    kind: Literal["down"]

    def describe(self) -> str:
        return f"proxy of {self.edge} down (connections refused)"

    def apply(self, ctx: FaultContext) -> Handle:
        proxy = self.proxy(ctx.system)
        ctx.toxiproxy.set_enabled(proxy, False)
        return _Enable(ctx.toxiproxy, proxy)


@dataclass
class _Enable:
    toxiproxy: Toxiproxy
    proxy: str

    def revert(self) -> str:
        self.toxiproxy.set_enabled(self.proxy, True)
        return f"enabled proxy {self.proxy}"
