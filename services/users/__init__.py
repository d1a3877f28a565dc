"""The users service: who the shop's customers are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shopkit import create_service_app, db, outbox

from users import config, models, routes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the users app: config, database (created and seeded), routes,
    and the outbox relay when BROKER_URL is set."""
    app = create_service_app(__name__, config.DEFAULTS, test_config)
    db.init_app(app, models.SCHEMA, models.seed)
    app.register_blueprint(routes.bp)
    outbox.init_app(app)
    return app
