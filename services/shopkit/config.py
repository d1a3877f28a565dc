"""Configuration shared by every service: defaults, then environment, then tests.

Order of precedence, lowest first:

1. `BASE_DEFAULTS` below, then the service's own defaults (its `config.py`);
2. `SHOP_*` environment variables via Flask's `from_prefixed_env("SHOP")`, whose
   values are JSON-parsed (`SHOP_READ_TIMEOUT=1.5` is the float 1.5,
   `SHOP_INVENTORY_URL=http://...` stays a string);
3. the `test_config` mapping given to `create_app`.

The chaos agent's settings (CHAOS_AGENT, CHAOS_BREAKERS, CHAOS_SERVICE, ...)
are not the shop's: the agent reads them itself, from `app.config` (so a
`test_config` may set them) else the environment. A plain `BREAKERS`
variable is not read any more: breakers off is the agent's CHAOS_BREAKERS.

Values are then checked and converted once, at start-up, so a typo in the
environment stops the service with a message naming the key instead of turning
into a 500 at the first downstream call. A key whose default is a number must
stay a non-negative number of that kind (`SHOP_SEED_USERS=5.5` is refused).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flask import Flask

BASE_DEFAULTS: dict[str, Any] = {
    # The broker the outbox relay publishes to (users, orders); empty: no relay.
    "BROKER_URL": "",
    "BROKER_TIMEOUT": 1.0,
    # A published message with no delivery receipt after this many seconds is
    # published again (shopkit/outbox.py).
    "OUTBOX_REPUBLISH_AFTER": 60.0,
    # Where breakers keep their state: "memory" (each worker process its own)
    # or "redis" (every worker of the service shares it; shopkit/breaker_store.py).
    "BREAKER_STORAGE": "memory",
    "REDIS_URL": "redis://127.0.0.1:6110/0",
    # Services reach each other only through their Toxiproxy proxies.
    "USERS_URL": "http://127.0.0.1:6101",
    "ORDERS_URL": "http://127.0.0.1:6102",
    "INVENTORY_URL": "http://127.0.0.1:6103",
    "CONNECT_TIMEOUT": 0.25,
    "READ_TIMEOUT": 1.0,
    "BREAKER_FAIL_MAX": 5,
    "BREAKER_RESET_TIMEOUT": 5.0,
}

# Numbers that must be strictly positive, not merely non-negative.
_POSITIVE = {"CONNECT_TIMEOUT", "READ_TIMEOUT", "BREAKER_FAIL_MAX", "BROKER_TIMEOUT", "OUTBOX_REPUBLISH_AFTER"}


def load_config(app: Flask, defaults: Mapping[str, Any], test_config: Mapping[str, Any] | None) -> None:
    """Fill `app.config` in the documented order and validate it.

    Raises ValueError naming the key when a value cannot be used.
    """
    app.config.from_mapping(BASE_DEFAULTS)
    app.config.from_mapping(defaults)
    app.config.from_prefixed_env("SHOP")
    if test_config:
        app.config.from_mapping(test_config)

    for key, default in {**BASE_DEFAULTS, **defaults}.items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            app.config[key] = _number(key, app.config[key], type(default))


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
