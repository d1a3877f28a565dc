"""kill: SIGKILL a service's processes; on revert, start it again and wait until healthy."""

from dataclasses import dataclass
from typing import Literal

from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.runtime import Runtime, Status


@register
class Kill(ServiceFault):
    kind: Literal["kill"]

    def describe(self) -> str:
        return f"kill {self.service} (SIGKILL), start it again when the fault ends"

    def apply(self, ctx: FaultContext) -> Handle:
        ctx.runtime.kill(self.service)
        return StartAgain(ctx.runtime, self.service)


@dataclass
class StartAgain:
    """Revert of kill and stop: start the service if it is not running."""

    runtime: Runtime
    service: str

    def revert(self) -> str:
        if self.runtime.status(self.service) is Status.STOPPED:
            self.runtime.start(self.service)
            return f"started {self.service} again"
        return f"{self.service} was already running"
