"""Helpers of the agent's tests: a test client that validates every reply
of the agent against its JSON Schema, and a small Flask app per breaker
library with the agent installed in two lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import circuitbreaker
import pybreaker
from flask import Flask

from chaos.agent import ChaosAgent
from chaos.agent.testing import ContractClient, contract_client, schema_for  # noqa: F401 - used by the tests

RESET = 0.3  # seconds a tripped breaker stays open in these tests
FAIL_MAX = 3


@dataclass
class Demo:
    """A small app: GET /users calls the breaker's decorated function,
    GET /users-call calls `breaker.call(fetch)`. `mode` says what the
    downstream does: "ok", "fail" (ConnectionError, a failure) or "missing"
    (KeyError, which the breaker ignores)."""

    lib: str
    app: Flask
    agent: ChaosAgent
    breaker: Any
    refused: type[Exception]
    decorated: Callable[[], str]
    mode: str = "ok"
    ran: int = 0
    client: Any = None
    calls: list[str] = field(default_factory=list)

    def fetch(self) -> str:
        self.ran += 1
        if self.mode == "fail":
            raise ConnectionError("users down")
        if self.mode == "missing":
            raise KeyError("no such user")
        return "ada"

    def call(self) -> str | None:
        """One call through the decorator, outside any request."""
        try:
            return self.decorated()
        except (self.refused, ConnectionError, KeyError):
            return None

    def trip(self) -> None:
        self.mode = "fail"
        for _ in range(FAIL_MAX):
            self.call()


def make_demo(lib: str, **config: Any) -> Demo:
    """The demo app for breaker library `lib` with the agent on (plus `config`)."""
    app = Flask("demo")
    app.config.update({"CHAOS_AGENT": "on", **config})
    if lib == "pybreaker":
        breaker = pybreaker.CircuitBreaker(fail_max=FAIL_MAX, reset_timeout=RESET, name="users", exclude=[KeyError],
                                           throw_new_error_on_trip=False)
        refused = pybreaker.CircuitBreakerError
    else:
        breaker = circuitbreaker.CircuitBreaker(failure_threshold=FAIL_MAX, recovery_timeout=RESET, name="users",
                                                expected_exception=lambda t, e: not issubclass(t, KeyError))
        refused = circuitbreaker.CircuitBreakerError
    demo = Demo(lib, app, None, breaker, refused, None)  # type: ignore[arg-type]
    demo.decorated = breaker(demo.fetch)  # decorated before it is watched, as at module level

    def answer(get: Callable[[], str]) -> Any:
        try:
            return {"user": get()}
        except refused:
            return {"user": None}  # a fallback answer, marked by the agent
        except ConnectionError:
            return {"user": None}
        except KeyError:
            return {"error": "no such user"}, 404

    app.add_url_rule("/users", "users", lambda: answer(demo.decorated))
    app.add_url_rule("/users-call", "users_call", lambda: answer(lambda: breaker.call(demo.fetch)))
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    demo.agent = ChaosAgent(app)
    demo.agent.watch(breaker)
    demo.client = contract_client(app)
    return demo




def transitions_of(client: Any, after: int = 0) -> list[tuple[str | None, str]]:
    """(from, to) of every transition with seq > after."""
    body = client.get(f"/_chaos/breakers/transitions?after={after}").json
    return [(t["from"], t["to"]) for t in body["transitions"]]


def breaker_of(client: Any, name: str = "users") -> dict[str, Any]:
    """Breaker `name` as GET /_chaos/breakers shows it."""
    (found,) = [b for b in client.get("/_chaos/breakers").json["breakers"] if b["name"] == name]
    return found


def metric(text: str, sample_name: str, /, **labels: str) -> float:
    """The value of sample `sample_name{labels}` in Prometheus text `text`."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {sample_name}{labels} in:\n{text}")
