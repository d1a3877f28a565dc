"""Configuration order: defaults, SHOP_* environment, BREAKERS, test_config."""

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
    assert config["BREAKERS"] is True


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


@pytest.mark.parametrize("name", ["BREAKERS", "SHOP_BREAKERS"])
@pytest.mark.parametrize("value", ["off", "OFF", "false", "0"])
def test_breakers_can_be_switched_off_from_the_environment(monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    app = create_service_app("shopkit", DEFAULTS)
    assert app.config["BREAKERS"] is False
    assert app.extensions["shopkit.breakers"].add("users").snapshot()["state"] == "disabled"
    assert app.test_client().get("/breakers").json["enabled"] is False


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SHOP_READ_TIMEOUT", "abc"),
        ("SHOP_READ_TIMEOUT", "0"),
        ("SHOP_CONNECT_TIMEOUT", "-1"),
        ("SHOP_BREAKER_FAIL_MAX", "2.5"),
        ("SHOP_BREAKER_FAIL_MAX", "true"),
        ("SHOP_SEED_THINGS", "-3"),
        ("BREAKERS", "maybe"),
    ],
)
def test_unusable_values_stop_start_up_naming_the_key(monkeypatch, key, value) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=key.removeprefix("SHOP_")):
        config_of()
