"""limit_data: a connection on the edge is closed after `bytes` bytes."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class LimitData(ToxicFault):
    toxic: ClassVar[str] = "limit_data"
    kind: Literal["limit_data"]
    bytes: int = Field(ge=0, le=2**40, description="bytes before the connection is closed")

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.bytes}

    def details(self) -> str:
        return f"closed after {self.bytes} bytes"
