"""The inventory service: what is in stock, and which orders hold some of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shopkit import create_service_app, db

from inventory import config, models, routes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the inventory app: config, database (created and seeded), routes."""
    app = create_service_app(__name__, config.DEFAULTS, test_config)
    db.init_app(app, models.SCHEMA, models.seed)
    app.register_blueprint(routes.bp)
    return app
