"""latency: every byte on an edge waits `latency` ms (plus up to `jitter`)."""

from typing import Literal

from pydantic import Field

from chaos.faults import EdgeFault, FaultContext, Handle, register


@register
class Latency(EdgeFault):
    kind: Literal["latency"]
    latency: int = Field(ge=0, le=600_000, description="milliseconds added")
    jitter: int = Field(default=0, ge=0, le=600_000, description="milliseconds, random either way")
    stream: Literal["upstream", "downstream"] = "downstream"

    def describe(self) -> str:
        jitter = f" ± {self.jitter} ms" if self.jitter else ""
        return f"latency {self.latency} ms{jitter} on {self.edge} ({self.stream})"

    def apply(self, ctx: FaultContext) -> Handle:
        return self.add_toxic(ctx, "latency", {"latency": self.latency, "jitter": self.jitter}, self.stream)
