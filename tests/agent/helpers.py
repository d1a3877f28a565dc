"""Helpers of the agent's tests: a test client that validates every reply
of the agent against its JSON Schema, and a small Flask app per breaker
library with the agent installed in two lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import circuitbreaker
import jsonschema
import pybreaker
from flask import Flask
from flask.testing import FlaskClient

from chaos.agent import ChaosAgent
from chaos.contract import schema

RESET = 0.3  # seconds a tripped breaker stays open in these tests
FAIL_MAX = 3
_validators = {name: jsonschema.Draft202012Validator(schema(name))
               for name in ("index", "breakers", "transitions", "assaults", "error")}
# JSON Schema calls 500.0 an integer; the agent, like JSON readers in typed
# languages, refuses it. The body check below uses the strict reading.
_Strict = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)),
)
_validators["assault"] = _Strict(schema("assault"), format_checker=jsonschema.FormatChecker())


def schema_for(prefix: str, path: str, status: int) -> str | None:
    """The contract schema a reply to `path` must follow, None when it is not the agent's (or metrics)."""
    if path != prefix and not path.startswith(prefix + "/"):
        return None
    if status >= 400:
        return "error"
    return {prefix: "index", f"{prefix}/breakers": "breakers", f"{prefix}/breakers/transitions": "transitions",
            f"{prefix}/assaults": "assaults"}.get(path)


class ContractClient(FlaskClient):
    """A Flask test client that checks every reply of the agent against the
    contract: JSON replies against their schema, metrics as Prometheus text;
    and an assault body the agent accepts (or refuses) must be valid (or
    invalid) by the `assault` schema too."""

    prefix = "/_chaos"
    checked = 0

    def open(self, *args: Any, **kwargs: Any) -> Any:
        body = kwargs.get("json", _MISSING)
        response = super().open(*args, **kwargs)
        path = response.request.path
        method = response.request.method
        if method == "HEAD" or response.status_code == 308:
            return response
        name = schema_for(self.prefix, path, response.status_code)
        if path == f"{self.prefix}/metrics" and response.status_code == 200:
            assert response.content_type.startswith("text/plain; version="), response.content_type
        elif name is not None or (path.startswith(self.prefix) and response.status_code >= 400):
            assert response.is_json, (path, response.status_code, response.data[:200])
            _validators[name or "error"].validate(response.get_json())
            ContractClient.checked += 1
        if path == f"{self.prefix}/assaults" and method in ("PUT", "POST") and body is not _MISSING:
            valid = _validators["assault"].is_valid(body)
            if response.status_code == 200:
                assert valid, f"the agent took {body!r} but the assault schema refuses it"
            elif response.status_code == 400:
                assert not valid, f"the agent refused {body!r} but the assault schema takes it"
        return response


_MISSING = object()


def contract_client(app: Flask, prefix: str = "/_chaos") -> FlaskClient:
    """`app`'s test client, validating the agent's replies under `prefix`."""
    app.test_client_class = type("Client", (ContractClient,), {"prefix": prefix})
    return app.test_client()


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
