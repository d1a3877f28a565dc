"""http_latency: a share of a service's requests waits before its view runs.

Unlike the latency fault (a Toxiproxy toxic on one edge), the wait is inside
the service: it holds one of the service's own threads, for every caller."""

from typing import Any, Literal

from pydantic import Field

from chaos.faults import register
from chaos.faults._http import HttpAssault


@register
class HttpLatency(HttpAssault):
    kind: Literal["http_latency"]
    latency_ms: int = Field(ge=0, le=60_000, description="milliseconds each assaulted request waits")

    def describe(self) -> str:
        return f"{self.service} waits {self.latency_ms} ms before {self.requests_phrase()}"

    def assault(self) -> dict[str, Any]:
        return {"kind": "latency", "latency_ms": self.latency_ms}
