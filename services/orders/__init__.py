"""The orders service: places orders, reserving stock through inventory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shopkit import create_service_app, db, downstream, outbox

from orders import config, models, routes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the orders app: config, database, the guarded inventory client, routes."""
    app = create_service_app(__name__, config.DEFAULTS, test_config)
    db.init_app(app, models.SCHEMA)
    downstream.init_app(app, ["inventory"])
    app.register_blueprint(routes.bp)
    outbox.init_app(app)
    return app
