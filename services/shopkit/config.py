"""Configuration shared by every service: defaults, then environment, then tests.

Order of precedence, lowest first:

1. `BASE_DEFAULTS` below, then the service's own defaults (its `config.py`);
2. `SHOP_*` environment variables via Flask's `from_prefixed_env("SHOP")`, whose
   values are JSON-parsed (`SHOP_READ_TIMEOUT=1.5` is the float 1.5,
   `SHOP_INVENTORY_URL=http://...` stays a string);
3. the plain `BREAKERS` variable (`BREAKERS=off`), kept because the toolkit's
   system file switches breakers off for whole runs with one short name, and
   likewise `CHAOS_ASSAULTS` (`CHAOS_ASSAULTS=on`, see `shopkit.app`);
4. the `test_config` mapping given to `create_app`.

Values are then checked and converted once, at start-up, so a typo in the
environment stops the service with a message naming the key instead of turning
into a 500 at the first downstream call. A key whose default is a number must
stay a non-negative number of that kind (`SHOP_SEED_USERS=5.5` is refused).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

BASE_DEFAULTS: dict[str, Any] = {
    # Services reach each other only through their Toxiproxy proxies.
    "USERS_URL": "http://127.0.0.1:6101",
    "ORDERS_URL": "http://127.0.0.1:6102",
    "INVENTORY_URL": "http://127.0.0.1:6103",
    "CONNECT_TIMEOUT": 0.25,
    "READ_TIMEOUT": 1.0,
    "BREAKERS": True,
    "BREAKER_FAIL_MAX": 5,
    "BREAKER_RESET_TIMEOUT": 5.0,
    # HTTP faults injected on request by the chaos toolkit (chaos.assaults).
    "CHAOS_ASSAULTS": False,
}

# Numbers that must be strictly positive, not merely non-negative.
_POSITIVE = {"CONNECT_TIMEOUT", "READ_TIMEOUT", "BREAKER_FAIL_MAX"}

# On/off settings also read from plain (unprefixed) environment variables.
_SWITCHES = ("BREAKERS", "CHAOS_ASSAULTS")

_OFF = {"off", "false", "0", "no"}
_ON = {"on", "true", "1", "yes"}


def load_config(app: Flask, defaults: Mapping[str, Any], test_config: Mapping[str, Any] | None) -> None:
    """Fill `app.config` in the documented order and validate it.

    Raises ValueError naming the key when a value cannot be used.
    """
    app.config.from_mapping(BASE_DEFAULTS)
    app.config.from_mapping(defaults)
    app.config.from_prefixed_env("SHOP")
    for switch in _SWITCHES:
        if switch in os.environ:
            app.config[switch] = os.environ[switch]
    if test_config:
        app.config.from_mapping(test_config)

    for switch in _SWITCHES:
        app.config[switch] = parse_switch(switch, app.config[switch])
    for key, default in {**BASE_DEFAULTS, **defaults}.items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            app.config[key] = _number(key, app.config[key], type(default))


def parse_switch(key: str, value: Any) -> bool:
    """Read an on/off setting given as a bool or a word such as "off" or "true"."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _OFF:
        return False
    if word in _ON:
        return True
    raise ValueError(f"config {key}={value!r}: expected on/off (or true/false)")


def _number(key: str, value: Any, kind: type) -> int | float:
    problem = f"config {key}={value!r}: expected a non-negative {kind.__name__}"
    # bool is an int to Python, but BREAKER_FAIL_MAX=true is a mistake, not 1.
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ValueError(problem)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if not 0 <= number < math.inf:  # also refuses NaN
        raise ValueError(problem)
    if key in _POSITIVE and number == 0:
        raise ValueError(f"config {key}={value!r}: must be greater than zero")
    return number
