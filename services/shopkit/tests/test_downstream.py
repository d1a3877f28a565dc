"""Downstream: timeouts, failure reasons, 4xx pass-through, breaker guarding (e)."""

from __future__ import annotations

import threading
import time

from typing import Any

import pytest
from flask import Flask

from shopkit import create_service_app
from shopkit.downstream import Downstream, Unavailable, is_client_error


def make_app(breakers: bool = True) -> Flask:
    """A service app with its chaos agent on, whose board makes watched breakers."""
    return create_service_app(
        "shopkit",
        {"SERVICE_NAME": "demo"},
        {"CHAOS_AGENT": True, "CHAOS_BREAKERS": breakers, "BREAKER_FAIL_MAX": 3, "BREAKER_RESET_TIMEOUT": 30},
    )


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def connect(app):
    def make(base_url: str, read_timeout: float = 0.2) -> Downstream:
        breaker = app.extensions["shopkit.breakers"].add("inventory", exclude=[is_client_error])
        return Downstream("inventory", base_url, breaker, connect_timeout=0.25, read_timeout=read_timeout)

    return make


def described(app: Flask) -> dict[str, Any]:
    """The agent's report of the one breaker, inventory."""
    (inventory,) = app.test_client().get("/_chaos/breakers").json["breakers"]
    return inventory


def reason_of(client: Downstream) -> str:
    with pytest.raises(Unavailable) as caught:
        client.get("/anything")
    assert caught.value.downstream == "inventory"
    return caught.value.reason


def test_2xx_json_is_returned(serve, fake_app, connect) -> None:
    client = connect(serve(fake_app(201, {"id": 7})))
    reply = client.post("/reservations", {"sku": "SKU-1"})
    assert (reply.status, reply.body, reply.ok) == (201, {"id": 7}, True)


def test_4xx_is_returned_and_is_not_a_failure(serve, fake_app, connect, app) -> None:
    client = connect(serve(fake_app(404, {"error": "unknown sku"})))
    for _ in range(5):  # more than fail_max
        reply = client.get("/items/NOPE")
        assert (reply.status, reply.body, reply.ok) == (404, {"error": "unknown sku"}, False)
    inventory = described(app)
    assert inventory["state"] == "closed"
    # pybreaker counts an excluded exception as a success; the agent says ignored.
    assert inventory["calls"] == {"successful": 0, "failed": 0, "ignored": 5, "not_permitted": 0}


def test_4xx_with_a_non_json_body_is_wrapped(serve, fake_app, connect) -> None:
    reply = connect(serve(fake_app(409, b"<html>conflict</html>"))).get("/x")
    assert reply.status == 409
    assert reply.body == {"error": "FAKE"}


def test_5xx_is_a_failure_and_trips_the_breaker(serve, fake_app, connect, app) -> None:
    client = connect(serve(fake_app(500, {"error": "boom"})))
    assert [reason_of(client) for _ in range(3)] == ["upstream-5xx"] * 3
    began = time.perf_counter()
    assert reason_of(client) == "breaker-open"
    assert time.perf_counter() - began < 0.2  # refused at once: the reason above says no call went out
    inventory = described(app)
    assert inventory["state"] == "open"
    assert inventory["failures_by_reason"] == {"upstream-5xx": 3}
    assert inventory["calls"]["not_permitted"] == 1


def test_a_non_json_success_is_a_failure(serve, fake_app, connect) -> None:
    assert reason_of(connect(serve(fake_app(200, b"not json")))) == "upstream-5xx"


def test_a_slow_answer_times_out_at_the_read_timeout(serve, fake_app, connect, app) -> None:
    client = connect(serve(fake_app(200, {}, delay=1.0)), read_timeout=0.15)
    began = time.monotonic()
    assert reason_of(client) == "timeout"
    assert 0.14 <= time.monotonic() - began < 0.5
    # requests' ReadTimeout became Unavailable(reason="timeout") inside the
    # guarded call, so the agent counts it by that reason.
    assert described(app)["failures_by_reason"] == {"timeout": 1}


def test_a_refused_connection_is_a_connection_failure(refused_url, connect, app) -> None:
    assert reason_of(connect(refused_url)) == "connection"
    assert described(app)["failures_by_reason"] == {"connection": 1}


def test_calls_through_one_downstream_run_in_parallel(serve, fake_app, connect) -> None:
    client = connect(serve(fake_app(200, {}, delay=0.3)), read_timeout=2)
    threads = [threading.Thread(target=client.get, args=("/slow",)) for _ in range(8)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - began < 0.8  # one after another: 2.4 s


def test_environment_proxies_are_ignored(serve, fake_app, connect, refused_url, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", refused_url)
    monkeypatch.setenv("http_proxy", refused_url)
    assert connect(serve(fake_app(200, {"ok": True}))).get("/x").body == {"ok": True}


def test_breakers_off_calls_keep_reaching_a_failing_downstream(serve, fake_app) -> None:
    app = make_app(breakers=False)
    breaker = app.extensions["shopkit.breakers"].add("inventory", exclude=[is_client_error])
    client = Downstream("inventory", serve(fake_app(503)), breaker, connect_timeout=0.25, read_timeout=0.2)
    assert [reason_of(client) for _ in range(4)] == ["upstream-5xx"] * 4  # more than fail_max: never open
    inventory = described(app)
    assert (inventory["state"], inventory["calls"]["failed"]) == ("disabled", 4)
