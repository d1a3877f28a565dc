"""Every service gets the chaos agent from create_service_app, switched on by
CHAOS_AGENT only: by default a service has no /_chaos endpoint and no
request hook of the agent's; on, it has the agent's breakers and assaults."""

from __future__ import annotations

import pytest

import orders
from shopkit import create_service_app, deadline

URL = "/_chaos/assaults"


def test_off_by_default_nothing_is_installed() -> None:
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"})
    assert not app.extensions["shopkit.agent"].enabled
    assert not any(r.rule.startswith("/_chaos") for r in app.url_map.iter_rules())
    # The service's own hook only (shopkit.deadline); nothing of the agent's.
    assert app.before_request_funcs == {None: [deadline._shed_if_expired]} and app.after_request_funcs == {}
    assert app.test_client().get(URL).status_code == 404


def test_the_environment_switches_it_on(monkeypatch) -> None:
    monkeypatch.setenv("CHAOS_AGENT", "on")
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"})
    assert app.extensions["shopkit.agent"].enabled
    assert app.test_client().get(URL).json["active"] is False


@pytest.mark.parametrize("name", ["CHAOS_AGENT", "CHAOS_BREAKERS"])
def test_a_misspelt_switch_stops_the_service(monkeypatch, name) -> None:
    monkeypatch.setenv("CHAOS_AGENT", "on")
    monkeypatch.setenv(name, "yes please")
    with pytest.raises(ValueError, match=name):
        create_service_app("shopkit", {"SERVICE_NAME": "demo"})


def test_a_service_answers_injected_errors_on_the_assaulted_routes_only(tmp_path) -> None:
    app = orders.create_app(
        {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3"), "CHAOS_AGENT": True, "PROPAGATE_EXCEPTIONS": False}
    )
    client = app.test_client()
    assert client.put(URL, json={"kind": "exception", "path": "^/orders"}).status_code == 200
    failed = client.get("/orders", query_string={"user_id": 1})
    assert failed.status_code == 500 and failed.json == {"error": "internal server error"}  # shopkit's own handler
    assert client.get("/health").status_code == 200 and client.get("/_chaos/breakers").status_code == 200
    assert client.delete(URL).json["stopped"]["injected"] == 1
    assert client.get("/orders", query_string={"user_id": 1}).status_code == 200
