"""Request deadlines: work nobody waits for any more is not done.

A client that gives up after its timeout does not take its request back: it
stays in the service's queue (gunicorn accepts connections ahead of its
threads), and a thread that picks it up later does all of its work, calls
downstream included, for an answer that goes to a closed socket. While the
queue is longer than the client's patience, every request is served too
late, each costs as much as a useful one, and the service stays slow after
whatever overloaded it has gone: a metastable overload. Measured on the
shop (order-down at 1000 req/s on two cores): the gateway answered no
/health for 20 s after the load had stopped, chewing through abandoned
requests.

The client says when it stops waiting, as an absolute time:
`X-Request-Deadline: <seconds since the epoch>`, the way gRPC carries a
deadline (absolute, so that time spent queued counts; the clocks of one
machine, or of NTP-synchronised ones, agree far better than a timeout's
second). A request whose deadline has passed before the service starts on
it is answered at once, 503 "deadline exceeded", without touching the
database or a downstream. Calls to downstreams carry the deadline on: the
caller's own, or the call's read timeout if that comes sooner (after it, the
caller has stopped waiting for the downstream's answer).

A request without the header is served as always: only clients that say
when they give up are held to it.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, has_request_context, request

HEADER = "X-Request-Deadline"


def current() -> float | None:
    """The deadline of the request being served, if its client sent one."""
    if not has_request_context():
        return None
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def for_call(read_timeout: float | None) -> dict[str, str]:
    """The header for a call to a downstream: the deadline of the request
    being served or the end of the call's read timeout (if it has one),
    whichever is sooner; none outside a request whose client sent one."""
    deadline = current()
    if deadline is None:
        return {}
    if read_timeout is not None:
        deadline = min(deadline, time.time() + read_timeout)
    return {HEADER: f"{deadline:.3f}"}


def _shed_if_expired() -> Any:
    deadline = current()
    if deadline is not None and time.time() > deadline:
        from shopkit.web import json_error

        response = json_error(503, "deadline exceeded", deadline=deadline)
        response.headers["X-Shed"] = "deadline"
        return response
    return None


def init_app(app: Flask) -> None:
    app.before_request(_shed_if_expired)
