"""restart: kill a service and start it again at once (an instant fault:
it takes no duration; the fault is over when the service is healthy)."""

from typing import Literal

from chaos.faults import FaultContext, Handle, Instant, ServiceFault, register


@register
class Restart(ServiceFault, Instant):
    kind: Literal["restart"]

    def describe(self) -> str:
        return f"restart {self.service} (SIGKILL, then start and wait until healthy)"

    def apply(self, ctx: FaultContext) -> Handle:
        ctx.runtime.restart(self.service)
        return _Done(self.service)


class _Done:
    def __init__(self, service: str):
        self.service = service

    def revert(self) -> str:
        return f"{self.service} restarted"
