"""partition: cut a service off the system's network while it keeps running.

Callers (through Toxiproxy) can no longer resolve or reach it, and its own
calls go nowhere. Only a runtime with the Partitionable ability can do this
(the Docker runtime; local processes share one network). Revert puts it
back under the same names.
"""

from dataclasses import dataclass
from typing import Literal

from chaos.errors import SetupError
from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.runtime import Partitionable


@register
class Partition(ServiceFault):
    kind: Literal["partition"]

    def describe(self) -> str:
        return f"partition {self.service} off the network, reconnect it when the fault ends"

    def apply(self, ctx: FaultContext) -> Handle:
        if not isinstance(ctx.runtime, Partitionable):
            raise SetupError(f"partition needs a runtime that can cut a service off its network (--runtime docker), not {type(ctx.runtime).__name__}")
        ctx.runtime.disconnect(self.service)
        return _Reconnect(ctx.runtime, self.service)


@dataclass
class _Reconnect:
    runtime: Partitionable
    service: str

    def revert(self) -> str:
        self.runtime.reconnect(self.service)
        return f"reconnected {self.service}"
