"""The gateway: the shop's public API, composed from users and orders.

It has no database; it holds one guarded client (and breaker) per downstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shopkit import create_service_app, downstream

from gateway import config, routes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the gateway app: config, guarded users and orders clients, routes."""
    app = create_service_app(__name__, config.DEFAULTS, test_config)
    downstream.init_app(app, ["users", "orders"])
    app.register_blueprint(routes.bp)
    return app
