"""A guarded HTTP client for one downstream edge.

Each edge gets one `Downstream`: one `requests.Session` (so connections are
pooled and reused), explicit (connect, read) timeouts on every call, and the
edge's circuit breaker around every call. Whatever goes wrong comes out as one
typed exception, `Unavailable(downstream, reason)`, so a service decides how to
degrade by looking at a reason, not at requests' exception hierarchy.

What counts as a failure of the downstream (and so towards tripping):
time-outs, connection errors, 5xx answers and answers that are not JSON.
A 4xx answer is not: the downstream is healthy and has judged the request, so
it is returned to the caller like a 2xx. `raise_for_status()` runs inside the
guarded call and the breaker's exclude predicate `is_client_error` lets 4xx
through; pybreaker counts an excluded exception as a success.

The guarded function, `_send`, raises `Unavailable` with its `reason`, so the
chaos agent's `failures_by_reason` counts "timeout", "connection" and
"upstream-5xx" rather than one exception class name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from shopkit import deadline
from shopkit.breakers import BreakerBoard, CircuitBreakerError, GuardedBreaker

REASONS = ("breaker-open", "timeout", "connection", "upstream-5xx")

# Above the largest THREADS any service runs with, so no request thread ever
# waits for a pooled connection or opens a throw-away one.
POOL_SIZE = 16

_EXTENSION = "shopkit.downstreams"


class Unavailable(Exception):
    """The downstream `downstream` gave no usable answer, for `reason` (one of REASONS)."""

    def __init__(self, downstream: str, reason: str) -> None:
        super().__init__(f"{downstream} unavailable: {reason}")
        self.downstream = downstream
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    """A usable answer from a downstream: a 2xx or 4xx status with its JSON body."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


def is_client_error(exc: BaseException) -> bool:
    """True when `exc` is an HTTPError for a 4xx answer: not the downstream's fault."""
    response = getattr(exc, "response", None)
    return isinstance(exc, requests.HTTPError) and response is not None and response.status_code < 500


def failure_reason(exc: requests.RequestException) -> str:
    """Name the way a downstream call failed, as one of REASONS."""
    # ConnectTimeout is both a Timeout and a ConnectionError: a peer that
    # never answers the handshake is slow, not refusing.
    if isinstance(exc, requests.Timeout):
        return "timeout"
    # An answer that is not JSON is as unusable as a 500 and as much the
    # downstream's fault.
    if isinstance(exc, (requests.HTTPError, requests.JSONDecodeError)):
        return "upstream-5xx"
    return "connection"


class Downstream:
    """The client for one downstream service, guarded by that edge's breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        breaker: GuardedBreaker,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.breaker = breaker
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        # Calls go straight to the Toxiproxy proxy: an HTTP_PROXY in the
        # environment must not reroute them, nor a .netrc add credentials.
        self.session.trust_env = False
        # No retries: a retry would hide exactly the faults the breaker and
        # the chaos runs are there to see, and would double every latency.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """GET `path`; see `request`."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Reply:
        """POST `body` as JSON to `path`; see `request`."""
        return self.request("POST", path, json=body)

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """Send one request through the breaker and return the 2xx or 4xx Reply.

        Raises Unavailable at once ("breaker-open") while the breaker refuses
        calls, and after the call for a time-out, a connection failure or an
        unusable (5xx or non-JSON) answer.
        """
        try:
            return self.breaker.call(self._send, method, path, **kwargs)
        except CircuitBreakerError as exc:
            raise Unavailable(self.name, "breaker-open") from exc
        except requests.HTTPError as exc:
            # Only 4xx get here: _send turns every other failure into Unavailable.
            return _client_error_reply(exc.response)

    def _send(self, method: str, path: str, **kwargs: Any) -> Reply:
        try:
            response = self.session.request(method, self.base_url + path, timeout=self.timeout,
                                            headers=deadline.for_call(self.timeout[1]), **kwargs)
            response.raise_for_status()
            return Reply(response.status_code, response.json(), response.headers)
        except requests.RequestException as exc:
            if is_client_error(exc):
                raise
            raise Unavailable(self.name, failure_reason(exc)) from exc


def _client_error_reply(response: requests.Response) -> Reply:
    # A 4xx body is passed on to the client, so a non-JSON one (from a proxy,
    # say) is wrapped rather than treated as the downstream failing.
    try:
        body = response.json()
    except requests.JSONDecodeError:
        body = {"error": response.reason or f"HTTP {response.status_code}"}
    return Reply(response.status_code, body, response.headers)


def init_app(app: Flask, names: Iterable[str]) -> None:
    """Create a breaker and a Downstream for each downstream service in `names`.

    The base URL of downstream "inventory" is config INVENTORY_URL, and so on;
    timeouts come from CONNECT_TIMEOUT and READ_TIMEOUT.
    """
    board: BreakerBoard = app.extensions["shopkit.breakers"]
    clients = app.extensions.setdefault(_EXTENSION, {})
    for name in names:
        clients[name] = Downstream(
            name,
            app.config[f"{name.upper()}_URL"],
            board.add(name, exclude=[is_client_error]),
            connect_timeout=app.config["CONNECT_TIMEOUT"],
            read_timeout=app.config["READ_TIMEOUT"],
        )


def client(name: str) -> Downstream:
    """The current app's Downstream for the service `name`."""
    return current_app.extensions[_EXTENSION][name]
