"""network_partition: cut a service off the container network while it keeps running.

Callers (through Toxiproxy) can no longer resolve or reach it, and its own
calls go nowhere. Only a runtime with the Partitionable ability can do this
(the Docker runtime; local processes share one network). Revert puts it
back under the same names. `partition` does the same through Toxiproxy on
any runtime; this one cuts the service's own network, as a real split does.
"""

from dataclasses import dataclass
from typing import ClassVar, Literal

from chaos.errors import SetupError
from chaos.faults import FaultContext, Handle, OnlyOn, ServiceFault, register
from chaos.runtime import Partitionable


@register
class NetworkPartition(ServiceFault, OnlyOn):
    runtimes: ClassVar[frozenset[str]] = frozenset({"docker"})
    kind: Literal["network_partition"]

    def describe(self) -> str:
        return f"network partition: {self.service} disconnected from its network, reconnected when the fault ends"

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
