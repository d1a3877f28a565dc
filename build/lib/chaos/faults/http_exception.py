"""http_exception: a share of a service's requests raises inside the app, so
the app's own 500 handler answers (and logs the traceback) as for a real bug."""

from typing import Any, Literal

from chaos.faults import register
from chaos.faults._http import HttpAssault


@register
class HttpException(HttpAssault):
    kind: Literal["http_exception"]

    def describe(self) -> str:
        return f"{self.service} raises an exception in {self.requests_phrase()} (its 500 handler answers)"

    def assault(self) -> dict[str, Any]:
        return {"kind": "exception"}
