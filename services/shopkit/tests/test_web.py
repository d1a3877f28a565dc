"""The shared HTTP plumbing: JSON errors, body loading, /health, and the
chaos agent every service app carries."""

from __future__ import annotations

import sqlite3

import pytest
from flask import Blueprint, Flask

import chaos.agent
from shopkit import create_service_app, db, downstream, fields, web
from shopkit.downstream import Unavailable
from shopkit.web import load_body

demo = Blueprint("demo", __name__)


class EchoSchema(fields.RequestSchema):
    name = fields.text(1, 5, required=True)


@demo.post("/echo")
def echo():
    return load_body(EchoSchema())


@demo.get("/things/<id:thing_id>")
def thing(thing_id: int):
    return {"id": thing_id}


@demo.get("/boom")
def boom():
    raise RuntimeError("bug")


@demo.get("/unavailable")
def unavailable():
    raise Unavailable("orders", "timeout")


@demo.get("/locked")
def locked():
    raise sqlite3.OperationalError("database is locked")


def make_app(tmp_path, with_db: bool = True, **config) -> Flask:
    app = create_service_app(
        "shopkit", {"SERVICE_NAME": "demo"}, {"DATABASE": str(tmp_path / "demo.db"), "CHAOS_AGENT": True, **config}
    )
    if with_db:
        db.init_app(app, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    downstream.init_app(app, ["inventory"])
    app.register_blueprint(demo)
    return app


@pytest.fixture
def app(tmp_path) -> Flask:
    return make_app(tmp_path, BREAKER_FAIL_MAX=2)


@pytest.fixture
def client(app):
    return app.test_client()


def test_unknown_route_is_json_404(client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json == {"error": "not found"}


def test_wrong_method_is_json_405_with_allow(client) -> None:
    response = client.delete("/echo")
    assert response.status_code == 405
    assert response.json == {"error": "method not allowed"}
    assert "POST" in response.headers["Allow"]


def test_unhandled_exception_is_json_500(tmp_path) -> None:
    response = make_app(tmp_path).test_client().get("/boom")  # not TESTING: no propagation
    assert response.status_code == 500
    assert response.json == {"error": "internal server error"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "{not json", "content_type": "application/json"},
        {"data": "name=x", "content_type": "application/x-www-form-urlencoded"},
        {"json": ["a", "list"]},
        {"json": "a string"},
        {"json": None},
        {"data": b"\xff\xfe", "content_type": "application/json"},
        {"data": "[" * 100_000, "content_type": "application/json"},
    ],
)
def test_bodies_that_are_not_json_objects_are_400(client, kwargs) -> None:
    response = client.post("/echo", **kwargs)
    assert response.status_code == 400
    assert response.json == {"error": "invalid request", "fields": {"_body": ["Request body must be a JSON object."]}}


def test_validation_errors_name_the_fields(client) -> None:
    response = client.post("/echo", json={"name": "far too long", "extra": 1})
    assert response.status_code == 400
    assert response.json["error"] == "invalid request"
    assert set(response.json["fields"]) == {"name", "extra"}
    assert client.post("/echo", json={"name": "ok"}).json == {"name": "ok"}


@pytest.mark.parametrize("text", ["nul\x00", "lone\ud800"])
def test_unstorable_text_is_400(client, text) -> None:
    response = client.post("/echo", json={"name": text})
    assert response.status_code == 400
    assert "name" in response.json["fields"]


def test_doubled_slashes_are_json_404_not_redirects(client) -> None:
    response = client.get("/things//1")
    assert (response.status_code, response.json) == (404, {"error": "not found"})


@pytest.mark.parametrize("value", ["0", "9223372036854775808", "-1", "abc"])
def test_id_routes_refuse_ids_sqlite_cannot_hold(client, value) -> None:
    assert client.get(f"/things/{value}").status_code == 404
    assert client.get("/things/9223372036854775807").json == {"id": 2**63 - 1}


def test_unavailable_is_503_with_fallback_headers(client) -> None:
    response = client.get("/unavailable")
    assert response.status_code == 503
    assert response.json == {"error": "orders unavailable", "reason": "timeout", "breaker": "orders"}
    assert response.headers["X-Fallback"] == "orders"
    assert response.headers["X-Fallback-Reason"] == "timeout"


def test_fallback_marking_is_the_agents_one_helper() -> None:
    assert web.mark_fallback is chaos.agent.mark_fallback


def test_storage_errors_are_503(client) -> None:
    response = client.get("/locked")
    assert response.status_code == 503
    assert response.json == {"error": "storage unavailable"}


def test_health_checks_the_database(app, client, tmp_path) -> None:
    assert client.get("/health").json == {"status": "ok", "service": "demo"}
    app.config["DATABASE"] = str(tmp_path / "missing-dir" / "db.sqlite3")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["status"] == "error"


def test_health_without_a_database(tmp_path) -> None:
    response = make_app(tmp_path, with_db=False).test_client().get("/health")
    assert (response.status_code, response.json) == (200, {"status": "ok", "service": "demo"})


def test_the_agent_reports_the_services_breakers_under_its_name(app, client) -> None:
    assert isinstance(app.extensions["shopkit.agent"], chaos.agent.ChaosAgent)
    body = client.get("/_chaos/breakers").json
    assert (body["service"], body["enabled"]) == ("demo", True)  # SERVICE_NAME, unless CHAOS_SERVICE says otherwise
    (inventory,) = body["breakers"]
    assert (inventory["name"], inventory["state"], inventory["fail_max"]) == ("inventory", "closed", 2)
    assert client.get("/breakers").status_code == 404  # the shop's own endpoint is gone


def test_chaos_service_from_the_environment_names_the_service(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHAOS_SERVICE", "demo-7")
    assert make_app(tmp_path).test_client().get("/_chaos").json["service"] == "demo-7"


def test_with_the_agent_off_nothing_is_under_chaos(tmp_path) -> None:
    app = make_app(tmp_path, CHAOS_AGENT=False)
    assert not app.extensions["shopkit.agent"].enabled
    assert app.test_client().get("/_chaos/breakers").json == {"error": "not found"}  # shopkit's JSON 404
