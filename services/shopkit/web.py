"""HTTP plumbing shared by every service: JSON errors, input loading, /health.

Errors become HTTP answers here and nowhere else:

- any HTTP error (400, 404, 405, 500, ...) -> `{"error": "<name>"}` JSON;
- marshmallow ValidationError -> 400 `{"error": "invalid request", "fields": {...}}`;
- `Unavailable` with no degraded answer -> 503 naming the downstream, its
  breaker and the reason, marked X-Fallback / X-Fallback-Reason by the chaos
  agent's `mark_fallback` (re-exported here; the headers' one definition);
- SQLite OperationalError (locked too long, disk full) -> 503.

The `ops` blueprint gives every service GET /health. What a service's
breakers do is served by its chaos agent under /_chaos (see `shopkit.app`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import IntegerConverter

from chaos.agent import mark_fallback
from shopkit import db, deadline
from shopkit.downstream import Unavailable
from shopkit.fields import MAX_ID

__all__ = [
    "IdConverter",
    "found_or_404",
    "init_app",
    "json_error",
    "load_args",
    "load_body",
    "load_view_args",
    "mark_fallback",
]


def json_error(status: int, message: str, /, **extra: Any) -> Response:
    """A JSON error answer: `{"error": message, **extra}` with HTTP `status`."""
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


def found_or_404(record: Any, message: str, /, **extra: Any) -> Any:
    """`record.to_json()` when there is a record, else a 404 `json_error(message, **extra)`."""
    if record is None:
        return json_error(404, message, **extra)
    return record.to_json()


def load_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body, validated by `schema`.

    Raises ValidationError (answered as 400) unless the body is a JSON object
    that `schema` accepts; a missing, malformed or non-JSON body is a 400 too.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly deep nesting; json only catches ValueError
        body = None
    if not isinstance(body, dict):
        raise ValidationError({"_body": ["Request body must be a JSON object."]})
    return schema.load(body)


def load_args(schema: Schema) -> dict[str, Any]:
    """The query string, validated by `schema` (first value of repeated keys)."""
    return schema.load(request.args.to_dict())


def load_view_args(schema: Schema) -> dict[str, Any]:
    """The URL's path parameters, validated by `schema`."""
    return schema.load(request.view_args or {})


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a positive integer that fits SQLite's INTEGER.

    Anything else does not match the route, so it is a 404 before a view runs.
    """

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


# ---------------------------------------------------------------- /health

ops = Blueprint("ops", __name__)


@ops.get("/health")
def health() -> Any:
    """200 `{"status": "ok", "service": NAME}`; 503 if the service's database
    does not answer SELECT 1."""
    name = current_app.config["SERVICE_NAME"]
    if db.has_db(current_app):
        try:
            db.get_db().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            return json_error(503, "database unavailable", status="error", service=name, detail=str(exc))
    return {"status": "ok", "service": name}


# ---------------------------------------------------------------- error handlers


def _http_error(exc: HTTPException) -> Response:
    response = json_error(exc.code or 500, (exc.name or "error").lower())
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _invalid(exc: ValidationError) -> Response:
    return json_error(400, "invalid request", fields=exc.messages)


def _unavailable(exc: Unavailable) -> Response:
    response = json_error(503, f"{exc.downstream} unavailable", reason=exc.reason, breaker=exc.downstream)
    return mark_fallback(response, exc.downstream, exc.reason)


def _storage_unavailable(exc: sqlite3.OperationalError) -> Response:
    # "database is locked" after the busy timeout, a full disk, a vanished
    # file: the request was fine, the storage is not, so 503 rather than 500.
    current_app.logger.warning("storage unavailable: %s", exc)
    return json_error(503, "storage unavailable")


def init_app(app: Flask) -> None:
    """Register the JSON error handlers, the `id` URL converter and /health."""
    app.url_map.converters["id"] = IdConverter
    # Werkzeug would answer /items//SKU-1 with an HTML redirect; a JSON API
    # answers every request in JSON, here a 404.
    app.url_map.merge_slashes = False
    # HTTPException also catches unhandled exceptions: Flask turns them into
    # InternalServerError before looking for a handler.
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _invalid)
    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(sqlite3.OperationalError, _storage_unavailable)
    app.register_blueprint(ops)
    deadline.init_app(app)  # a request its client gave up on is not served (shopkit.deadline)
