"""reset_peer: connections on the edge are reset (TCP RST) after `timeout` ms."""

from typing import ClassVar, Literal

from pydantic import Field

from chaos.faults import ToxicFault, register


@register
class ResetPeer(ToxicFault):
    toxic: ClassVar[str] = "reset_peer"
    kind: Literal["reset_peer"]
    timeout: int = Field(default=0, ge=0, le=600_000, description="milliseconds before the reset; 0 at once")

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout}

    def details(self) -> str:
        return f"after {self.timeout} ms"
