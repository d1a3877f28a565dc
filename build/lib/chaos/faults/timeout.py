"""timeout: data on the edge stops; the connection is closed after `timeout`
ms (0: held open forever), as a silently dropping network does."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class Timeout(ToxicFault):
    toxic: ClassVar[str] = "timeout"
    kind: Literal["timeout"]
    timeout: int = Field(default=0, ge=0, le=600_000, description="milliseconds before closing; 0 holds forever")

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout}

    def details(self) -> str:
        return "data stopped, " + (f"closed after {self.timeout} ms" if self.timeout else "held open")
