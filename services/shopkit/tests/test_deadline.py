"""Request deadlines (shopkit.deadline): a request its client has given up
on is answered at once without its work; calls to downstreams carry the
deadline on, never later than their own read timeout."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, request

from shopkit import create_service_app, deadline
from shopkit.downstream import Downstream, is_client_error


def make_app(calls: list[str]) -> Flask:
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"}, {"CHAOS_AGENT": True, "CHAOS_BREAKERS": True})

    @app.post("/work")
    def work() -> Any:
        calls.append(request.headers.get(deadline.HEADER, ""))
        return {"done": True}, 201

    return app


def test_a_request_past_its_deadline_is_answered_at_once_without_its_work() -> None:
    calls: list[str] = []
    client = make_app(calls).test_client()
    late = client.post("/work", json={}, headers={deadline.HEADER: f"{time.time() - 0.01:.3f}"})
    assert late.status_code == 503 and late.json["error"] == "deadline exceeded" and late.headers["X-Shed"] == "deadline"
    assert calls == []  # the handler never ran


def test_a_request_in_time_or_without_a_deadline_is_served() -> None:
    calls: list[str] = []
    client = make_app(calls).test_client()
    assert client.post("/work", json={}, headers={deadline.HEADER: f"{time.time() + 5:.3f}"}).status_code == 201
    assert client.post("/work", json={}).status_code == 201
    assert client.post("/work", json={}, headers={deadline.HEADER: "soon"}).status_code == 201  # unreadable: served
    assert len(calls) == 3


def test_calls_downstream_carry_the_sooner_of_the_deadline_and_their_read_timeout(serve) -> None:
    seen: list[str] = []
    downstream_app = make_app(seen)
    base = serve(downstream_app)
    app = make_app([])
    breaker = app.extensions["shopkit.breakers"].add("inventory", exclude=[is_client_error])
    inventory = Downstream("inventory", base, breaker, connect_timeout=0.25, read_timeout=0.5)
    far = time.time() + 30
    with app.test_request_context("/", headers={deadline.HEADER: f"{far:.3f}"}):
        sent = time.time()
        inventory.post("/work", {})
    with app.test_request_context("/", headers={deadline.HEADER: f"{sent + 0.2:.3f}"}):
        inventory.post("/work", {})
    with app.test_request_context("/"):
        inventory.post("/work", {})  # no deadline from the client: none passed on
    assert abs(float(seen[0]) - (sent + 0.5)) < 0.1  # the read timeout came first
    assert abs(float(seen[1]) - (sent + 0.2)) < 0.01  # the client's deadline came first
    assert seen[2] == ""


def test_a_call_without_a_read_timeout_carries_the_clients_deadline() -> None:
    app = make_app([])
    with app.test_request_context("/", headers={deadline.HEADER: "123.456"}):
        assert deadline.for_call(None) == {deadline.HEADER: "123.456"}
