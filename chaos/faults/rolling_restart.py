"""rolling_restart: replace a service's replicas one at a time, as a deploy
does (swarm's forced update: each new task healthy before an old one stops).
The fault's end waits until the update completed; an update that rolled back
or paused is a set-up failure, not a quiet pass."""

from dataclasses import dataclass
from typing import ClassVar, Literal

from chaos.faults import FaultContext, Handle, OnlyOn, ServiceFault, register
from chaos.faults._replicas import replicated
from chaos.runtime import Replicated


@register
class RollingRestart(ServiceFault, OnlyOn):
    runtimes: ClassVar[frozenset[str]] = frozenset({"swarm"})
    kind: Literal["rolling_restart"]

    def describe(self) -> str:
        return f"rolling restart of {self.service}: its replicas replaced one at a time"

    def apply(self, ctx: FaultContext) -> Handle:
        runtime = replicated(ctx.runtime, "rolling_restart")
        runtime.rolling_restart(self.service)
        return _WaitUpdate(runtime, self.service)


@dataclass
class _WaitUpdate:
    runtime: Replicated
    service: str
    done: str = ""

    def revert(self) -> str:
        if not self.done:
            took = self.runtime.wait_update(self.service)
            self.done = f"{self.service} updated replica by replica in {took:.1f} s"
        return self.done
