"""slow_close: the edge delays closing a connection by `delay` ms."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class SlowClose(ToxicFault):
    toxic: ClassVar[str] = "slow_close"
    kind: Literal["slow_close"]
    delay: int = Field(ge=0, le=600_000, description="milliseconds")

    def attributes(self) -> dict[str, int]:
        return {"delay": self.delay}

    def details(self) -> str:
        return f"{self.delay} ms"
