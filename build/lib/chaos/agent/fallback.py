"""Fallback marking: the standard headers of a degraded answer.

`mark_fallback(response, breaker, reason)` sets `X-Fallback: <breaker>` and
`X-Fallback-Reason: <reason>` by hand. The agent also marks automatically:
when during a request a watched breaker refused a call (reason
"breaker-open") or a guarded call failed (reason "failure"), and the response
has no X-Fallback yet and is not a 500, the agent adds both headers. The
first breaker event of the request names the breaker. Calls outside a request
are recorded as usual and mark nothing.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Response, g, has_request_context

FALLBACK = "X-Fallback"
FALLBACK_REASON = "X-Fallback-Reason"
_NOTED = "chaos_agent_fallback"

R = TypeVar("R", bound=Response)


def mark_fallback(response: R, breaker: str, reason: str) -> R:
    """Flag `response` as a fallback answer because of `breaker` (headers
    X-Fallback and X-Fallback-Reason) and return it."""
    response.headers[FALLBACK] = breaker
    response.headers[FALLBACK_REASON] = reason
    return response


def note(breaker: str, reason: str) -> None:
    """Remember, for the current request only, that `breaker` refused or failed a call."""
    if has_request_context() and _NOTED not in g:
        setattr(g, _NOTED, (breaker, reason))


def mark_noted(response: Response) -> Response:
    """The agent's after-request hook: mark `response` if a breaker was noted
    during the request, it is not marked already and is not a 500."""
    noted = g.pop(_NOTED, None)
    if noted is not None and FALLBACK not in response.headers and response.status_code != 500:
        mark_fallback(response, *noted)
    return response
