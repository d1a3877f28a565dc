"""slicer: data on the edge is cut into small packets, each delayed a little."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class Slicer(ToxicFault):
    toxic: ClassVar[str] = "slicer"
    kind: Literal["slicer"]
    average_size: int = Field(ge=1, le=1_000_000, description="bytes per slice, on average")
    size_variation: int = Field(default=0, ge=0, le=1_000_000, description="bytes either way")
    delay: int = Field(default=0, ge=0, le=10_000_000, description="microseconds between slices")

    def attributes(self) -> dict[str, int]:
        return {"average_size": self.average_size, "size_variation": self.size_variation, "delay": self.delay}

    def details(self) -> str:
        return f"{self.average_size} B slices, {self.delay} µs apart"
