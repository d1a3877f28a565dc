"""http_error: a share of a service's requests is answered with an injected 5xx."""

from typing import Any, Literal

from pydantic import Field

from chaos.faults import register
from chaos.faults._http import HttpAssault


@register
class HttpError(HttpAssault):
    kind: Literal["http_error"]
    status: int = Field(default=500, ge=500, le=599, description="the status of the injected answers")

    def describe(self) -> str:
        return f"{self.service} answers {self.requests_phrase()} with an injected {self.status}"

    def assault(self) -> dict[str, Any]:
        return {"kind": "error", "status": self.status}
