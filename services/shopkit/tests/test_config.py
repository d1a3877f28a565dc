"""Configuration order: defaults, SHOP_* environment, test_config; the
breakers-off switch is the chaos agent's CHAOS_BREAKERS."""

from __future__ import annotations

import pytest

from shopkit import create_service_app

DEFAULTS = {"SERVICE_NAME": "demo", "READ_TIMEOUT": 0.5, "SEED_THINGS": 3}


def config_of(test_config=None):
    return create_service_app("shopkit", DEFAULTS, test_config).config


def test_defaults_base_then_service() -> None:
    config = config_of()
    assert config["CONNECT_TIMEOUT"] == 0.25
    assert config["READ_TIMEOUT"] == 0.5  # the service's default beats the base
    assert config["BREAKER_FAIL_MAX"] == 5 and config["BREAKER_RESET_TIMEOUT"] == 5.0
    assert config["INVENTORY_URL"] == "http://127.0.0.1:6103"
    assert "BREAKERS" not in config and "CHAOS_ASSAULTS" not in config


def test_shop_environment_variables_are_json_parsed(monkeypatch) -> None:
    monkeypatch.setenv("SHOP_READ_TIMEOUT", "1.5")
    monkeypatch.setenv("SHOP_BREAKER_FAIL_MAX", "7")
    monkeypatch.setenv("SHOP_ORDERS_URL", "http://orders.test:80")
    config = config_of()
    assert config["READ_TIMEOUT"] == 1.5
    assert config["BREAKER_FAIL_MAX"] == 7
    assert config["ORDERS_URL"] == "http://orders.test:80"


def test_numbers_given_as_strings_are_converted(monkeypatch) -> None:
    monkeypatch.setenv("SHOP_SEED_THINGS", '"12"')  # JSON string "12"
    assert config_of()["SEED_THINGS"] == 12


def test_test_config_wins_over_environment(monkeypatch) -> None:
    monkeypatch.setenv("SHOP_READ_TIMEOUT", "1.5")
    assert config_of({"READ_TIMEOUT": 0.1})["READ_TIMEOUT"] == 0.1


@pytest.mark.parametrize("value", ["off", "OFF", "false", "0"])
def test_breakers_can_be_switched_off_from_the_environment(monkeypatch, value) -> None:
    monkeypatch.setenv("CHAOS_AGENT", "on")
    monkeypatch.setenv("CHAOS_BREAKERS", value)
    app = create_service_app("shopkit", DEFAULTS)
    app.extensions["shopkit.breakers"].add("users")
    body = app.test_client().get("/_chaos/breakers").json
    assert body["enabled"] is False
    assert [b["state"] for b in body["breakers"]] == ["disabled"]


@pytest.mark.parametrize("name", ["BREAKERS", "SHOP_BREAKERS"])
def test_the_old_breakers_switch_is_not_read(monkeypatch, name) -> None:
    """`make reset` still puts BREAKERS in the engine's environment, which its
    local runtime passes on: it must neither switch breakers off nor stop the service."""
    monkeypatch.setenv("CHAOS_AGENT", "on")
    monkeypatch.setenv(name, "off")
    app = create_service_app("shopkit", DEFAULTS)
    app.extensions["shopkit.breakers"].add("users")
    assert [b["state"] for b in app.test_client().get("/_chaos/breakers").json["breakers"]] == ["closed"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SHOP_READ_TIMEOUT", "abc"),
        ("SHOP_READ_TIMEOUT", "0"),
        ("SHOP_CONNECT_TIMEOUT", "-1"),
        ("SHOP_BREAKER_FAIL_MAX", "2.5"),
        ("SHOP_BREAKER_FAIL_MAX", "true"),
        ("SHOP_SEED_THINGS", "-3"),
        ("CHAOS_AGENT", "maybe"),
    ],
)
def test_unusable_values_stop_start_up_naming_the_key(monkeypatch, key, value) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=key.removeprefix("SHOP_")):
        config_of()
