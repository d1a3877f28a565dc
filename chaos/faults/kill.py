"""kill: SIGKILL a service's processes; on revert, start it again and wait until healthy.

With `replicas:` (1, 50%, all; the swarm runtime only) it kills that many of
the service's replicas instead and leaves their replacement to the
scheduler; revert waits until every replica runs again."""

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.faults._replicas import check_replicas, how_many, replicated, words
from chaos.runtime import Replicated, Runtime, Status


@register
class Kill(ServiceFault):
    kind: Literal["kill"]
    replicas: int | str | None = Field(default=None, description="kill only some replicas (1, 50%, all) and let the scheduler replace them")

    _check = field_validator("replicas")(check_replicas)

    def describe(self) -> str:
        if self.replicas is not None:
            return f"kill {words(self.replicas)} of {self.service} (SIGKILL); the scheduler replaces them"
        return f"kill {self.service} (SIGKILL), start it again when the fault ends"

    def apply(self, ctx: FaultContext) -> Handle:
        if self.replicas is not None:
            runtime = replicated(ctx.runtime, "kill")
            killed = runtime.kill_replicas(self.service, how_many(self.replicas, runtime.desired(self.service)))
            return WaitReplicas(runtime, self.service, killed)
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


@dataclass
class WaitReplicas:
    """Revert of a replica kill: the scheduler replaces them; wait until it has."""

    runtime: Replicated
    service: str
    killed: list[str]

    def revert(self) -> str:
        waited = self.runtime.wait_replicas(self.service)
        return (f"{self.service} runs {self.runtime.desired(self.service)} replicas again "
                f"(killed {', '.join(self.killed)}; waited {waited:.1f} s at the fault's end)")
