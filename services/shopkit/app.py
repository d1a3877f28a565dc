"""The part of every service's `create_app` that is the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from shopkit import web
from shopkit.breakers import BreakerBoard
from shopkit.config import load_config


def create_service_app(
    import_name: str, defaults: Mapping[str, Any], test_config: Mapping[str, Any] | None = None
) -> Flask:
    """A Flask app with the service's configuration loaded, an empty breaker
    board, JSON error handling and the ops endpoints (/health, /breakers);
    with CHAOS_ASSAULTS on, also the chaos toolkit's assaults (`chaos.assaults`).

    The caller adds its database (`shopkit.db.init_app`), its downstreams
    (`shopkit.downstream.init_app`) and its own blueprint.
    """
    # No static_folder: the services serve JSON only.
    app = Flask(import_name, instance_relative_config=True, static_folder=None)
    load_config(app, defaults, test_config)
    app.extensions["shopkit.breakers"] = BreakerBoard.from_config(app.config)
    web.init_app(app)
    if app.config["CHAOS_ASSAULTS"]:
        # Imported only when switched on: with assaults off a service needs
        # nothing from the chaos package, and its image does not ship it.
        try:
            from chaos.assaults import Assaults
        except ImportError as exc:
            raise RuntimeError(
                "CHAOS_ASSAULTS is on but chaos.assaults cannot be imported: install the chaos toolkit, "
                "or put chaos/assaults.py (with an empty chaos/__init__.py) beside the service"
            ) from exc
        Assaults(app)
    return app
