"""bandwidth: the edge carries at most `rate` KB/s (a slow drip, not a stop)."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class Bandwidth(ToxicFault):
    toxic: ClassVar[str] = "bandwidth"
    kind: Literal["bandwidth"]
    rate: int = Field(ge=0, le=10_000_000, description="KB per second")

    def attributes(self) -> dict[str, int]:
        return {"rate": self.rate}

    def details(self) -> str:
        return f"{self.rate} KB/s"
