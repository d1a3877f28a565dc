"""The part of every service's `create_app` that is the same everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from chaos.agent import ChaosAgent
from shopkit import web
from shopkit.breakers import BreakerBoard
from shopkit.config import load_config


def create_service_app(
    import_name: str, defaults: Mapping[str, Any], test_config: Mapping[str, Any] | None = None
) -> Flask:
    """A Flask app with the service's configuration loaded, its chaos agent
    (`app.extensions["shopkit.agent"]`), an empty breaker board whose
    breakers the agent watches, JSON error handling and /health.

    The agent does nothing unless CHAOS_AGENT is on (app.config, so also
    `test_config`, else the environment); on, it serves /_chaos (breakers,
    transitions, assaults, metrics). The caller adds its database
    (`shopkit.db.init_app`), its downstreams (`shopkit.downstream.init_app`)
    and its own blueprint.
    """
    # No static_folder: the services serve JSON only.
    app = Flask(import_name, instance_relative_config=True, static_folder=None)
    load_config(app, defaults, test_config)
    # The service knows its name; the environment's CHAOS_SERVICE still wins
    # (the agent reads app.config first, so only fill it in when it is unset).
    if "CHAOS_SERVICE" not in os.environ:
        app.config.setdefault("CHAOS_SERVICE", app.config["SERVICE_NAME"])
    agent = ChaosAgent(app)
    app.extensions["shopkit.agent"] = agent
    app.extensions["shopkit.breakers"] = BreakerBoard.from_config(app.config, agent)
    web.init_app(app)
    return app
