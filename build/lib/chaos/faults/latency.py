"""latency: every chunk of data on an edge waits `latency` ms (plus up to `jitter`)."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class Latency(ToxicFault):
    toxic: ClassVar[str] = "latency"
    kind: Literal["latency"]
    latency: int = Field(ge=0, le=600_000, description="milliseconds added")
    jitter: int = Field(default=0, ge=0, le=600_000, description="milliseconds, random either way")

    def attributes(self) -> dict[str, int]:
        return {"latency": self.latency, "jitter": self.jitter}

    def details(self) -> str:
        return f"{self.latency} ms" + (f" ± {self.jitter} ms" if self.jitter else "")
