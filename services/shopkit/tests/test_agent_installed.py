"""Every service gets chaos.assaults from create_service_app, and only when
CHAOS_ASSAULTS is on: by default a service has no control endpoint and no
request hook."""

from __future__ import annotations

import sys

import pytest

import orders
from shopkit import create_service_app

URL = "/_chaos/assaults"


def test_off_by_default_nothing_is_installed() -> None:
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"})
    assert app.config["CHAOS_ASSAULTS"] is False
    assert URL not in {r.rule for r in app.url_map.iter_rules()}
    assert app.before_request_funcs == {}
    assert app.test_client().get(URL).status_code == 404


@pytest.mark.parametrize("name", ["CHAOS_ASSAULTS", "SHOP_CHAOS_ASSAULTS"])
def test_the_environment_switches_it_on(monkeypatch, name) -> None:
    monkeypatch.setenv(name, "on")
    app = create_service_app("shopkit", {"SERVICE_NAME": "demo"})
    assert app.config["CHAOS_ASSAULTS"] is True
    assert app.test_client().get(URL).json["active"] is False


def test_a_misspelt_switch_stops_the_service(monkeypatch) -> None:
    monkeypatch.setenv("CHAOS_ASSAULTS", "yes please")
    with pytest.raises(ValueError, match="CHAOS_ASSAULTS"):
        create_service_app("shopkit", {"SERVICE_NAME": "demo"})


def test_a_service_answers_injected_errors_on_the_assaulted_routes_only(tmp_path) -> None:
    app = orders.create_app(
        {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3"), "CHAOS_ASSAULTS": True, "PROPAGATE_EXCEPTIONS": False}
    )
    client = app.test_client()
    assert client.put(URL, json={"kind": "exception", "path": "^/orders"}).status_code == 200
    failed = client.get("/orders", query_string={"user_id": 1})
    assert failed.status_code == 500 and failed.json == {"error": "internal server error"}  # shopkit's own handler
    assert client.get("/health").status_code == 200 and client.get("/breakers").status_code == 200
    assert client.delete(URL).json["stopped"]["injected"] == 1
    assert client.get("/orders", query_string={"user_id": 1}).status_code == 200


def test_switched_on_without_the_chaos_package_says_what_is_missing(monkeypatch) -> None:
    """As in a service image, which ships services/ only."""
    monkeypatch.setitem(sys.modules, "chaos.assaults", None)  # makes the import fail
    with pytest.raises(RuntimeError, match="chaos.assaults cannot be imported"):
        create_service_app("shopkit", {"SERVICE_NAME": "demo"}, {"CHAOS_ASSAULTS": "on"})
    assert create_service_app("shopkit", {"SERVICE_NAME": "demo"}).config["CHAOS_ASSAULTS"] is False  # off: fine
