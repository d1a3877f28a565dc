"""pause: freeze a service (SIGSTOP). Its sockets stay open and nothing
answers, so callers see read timeouts, not refusals. Revert thaws it."""

from dataclasses import dataclass
from typing import Literal

from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.runtime import Runtime


@register
class Pause(ServiceFault):
    kind: Literal["pause"]

    def describe(self) -> str:
        return f"pause {self.service} (SIGSTOP: frozen, connections hang)"

    def apply(self, ctx: FaultContext) -> Handle:
        ctx.runtime.pause(self.service)
        return _Resume(ctx.runtime, self.service)


@dataclass
class _Resume:
    runtime: Runtime
    service: str
    done: bool = False

    def revert(self) -> str:
        if self.done:
            return f"{self.service} already resumed"
        self.runtime.resume(self.service)
        self.done = True
        return f"resumed {self.service}"
