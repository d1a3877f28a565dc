"""stop: stop a service gracefully (SIGTERM, then SIGKILL after a grace
period); on revert, start it again and wait until healthy."""

from typing import Literal

from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.faults.kill import StartAgain


@register
class Stop(ServiceFault):
    kind: Literal["stop"]

    def describe(self) -> str:
        return f"stop {self.service} gracefully (SIGTERM), start it again when the fault ends"

    def apply(self, ctx: FaultContext) -> Handle:
        ctx.runtime.stop(self.service)
        return StartAgain(ctx.runtime, self.service)
