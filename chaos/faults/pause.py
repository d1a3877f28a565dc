"""pause: freeze a service (SIGSTOP). Its sockets stay open and nothing
answers, so callers see read timeouts, not refusals. Revert thaws it.

With `replicas:` (1, 50%, all; the swarm runtime only) it freezes that many
of the service's replicas; revert thaws those."""

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from chaos.faults import FaultContext, Handle, ServiceFault, register
from chaos.faults._replicas import check_replicas, how_many, replicated, words
from chaos.runtime import Replicated, Runtime


@register
class Pause(ServiceFault):
    kind: Literal["pause"]
    replicas: int | str | None = Field(default=None, description="freeze only some replicas (1, 50%, all)")

    _check = field_validator("replicas")(check_replicas)

    def describe(self) -> str:
        if self.replicas is not None:
            return f"pause {words(self.replicas)} of {self.service} (frozen, connections to them hang)"
        return f"pause {self.service} (SIGSTOP: frozen, connections hang)"

    def apply(self, ctx: FaultContext) -> Handle:
        if self.replicas is not None:
            runtime = replicated(ctx.runtime, "pause")
            ids = runtime.pause_replicas(self.service, how_many(self.replicas, runtime.desired(self.service)))
            return _ResumeReplicas(runtime, self.service, ids)
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


@dataclass
class _ResumeReplicas:
    runtime: Replicated
    service: str
    ids: list[str] = field(default_factory=list)

    def revert(self) -> str:
        self.runtime.resume_replicas(self.service, self.ids)
        return f"resumed {', '.join(self.ids)} of {self.service}"
