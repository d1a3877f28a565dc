"""Assaults: HTTP-level faults injected inside a Flask app, switched on at run time.

Like the "assaults" of Spring's Chaos Monkey: while an assault is active, a
share of the app's requests (optionally only those whose path matches a
regex) is answered with an injected 5xx, raises an exception that the app's
own 500 handler answers, or waits before its view runs. Toxiproxy can slow or
cut a connection, but only the app itself can answer "500" to one request in
three on one route, and that is the failure most callers meet in practice.

Why it is hand-written: no library kept for this project does HTTP fault
injection for Flask. It is one module on purpose: it imports only Flask, the
standard library and marshmallow, so a service image can carry it alone
(`chaos/__init__.py` may then be empty) without the rest of the toolkit.

Usage::

    assaults = Assaults(app)        # or Assaults() ... assaults.init_app(app)

It does nothing unless switched on: `app.config["CHAOS_ASSAULTS"]`, else the
environment variable `CHAOS_ASSAULTS`, must say on (on/true/1/yes). Off, it
registers nothing at all: no route, no request hook.

On, it adds one control endpoint, `/_chaos/assaults` by default:

- `GET` the current assault and its counters;
- `PUT` or `POST` `{"kind": "error"|"exception"|"latency", "share": 0..1,
  "status": 500..599, "latency_ms": 0..60000, "path": "regex"}` to set one
  (validated strictly: a 400 names each bad field);
- `DELETE` to stop it.

The control endpoint answers only requests whose remote address is loopback
(127.0.0.1 or ::1) and refuses every other with 403. Bind the app to loopback
(as the sample services are) or keep the endpoint unreachable from outside:
behind a reverse proxy on the same host every request looks local. It is
never assaulted itself, and neither are the paths given as `exempt`
(by default /health and /breakers with everything under them), so the
toolkit can still see the service's health and breakers during an assault.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

KINDS = ("error", "exception", "latency")
DEFAULT_URL = "/_chaos/assaults"
DEFAULT_EXEMPT = ("/health", "/breakers")
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
MAX_LATENCY_MS = 60_000
MAX_PATTERN = 256
HEADER = "X-Chaos-Assault"

_ON = {"on", "true", "1", "yes"}
_OFF = {"off", "false", "0", "no", ""}
_EXTENSION = "chaos.assaults"


class InjectedFault(RuntimeError):
    """Raised in a request by an assault of kind "exception"."""


def switched_on(app: Flask) -> bool:
    """True when `app.config["CHAOS_ASSAULTS"]` (or, if unset, the environment
    variable of that name) says on. ValueError for a word that is neither on
    nor off, so a typo stops the app at start-up instead of silently meaning off."""
    # The same words as shopkit.config.parse_switch, written again on purpose:
    # this module must stand alone, and shopkit must not import chaos when off.
    value = app.config.get("CHAOS_ASSAULTS", os.environ.get("CHAOS_ASSAULTS", "off"))
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise ValueError(f"CHAOS_ASSAULTS={value!r}: expected on or off")


# ------------------------------------------------------------------ the spec


class _Float(fields.Float):
    """A JSON number only: marshmallow's Float would also take "0.5" (it
    already refuses true/false, NaN and infinities)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


def _regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a valid regular expression: {exc}.") from None


class AssaultSchema(Schema):
    """The body of PUT/POST: unknown fields, wrong types and fields that do
    not belong to the kind are errors."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    share = _Float(load_default=1.0, validate=validate.Range(0.0, 1.0))
    status = fields.Integer(validate=validate.Range(500, 599), strict=True)
    latency_ms = fields.Integer(validate=validate.Range(0, MAX_LATENCY_MS), strict=True)
    path = fields.String(validate=[validate.Length(1, MAX_PATTERN), _regex])

    @validates_schema
    def _fits_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("kind")
        errors: dict[str, list[str]] = {}
        if kind == "latency" and "latency_ms" not in data:
            errors["latency_ms"] = ["Required for kind latency."]
        if kind != "latency" and "latency_ms" in data:
            errors["latency_ms"] = ["Only for kind latency."]
        if kind != "error" and "status" in data:
            errors["status"] = ["Only for kind error."]
        if errors:
            raise ValidationError(errors)


@dataclass(frozen=True)
class Assault:
    """One active assault. `path` is matched at the start of the request path
    (`re.match`), so a plain prefix such as "/orders" works as well as a regex."""

    kind: str
    share: float = 1.0
    status: int = 500
    latency_ms: int = 0
    path: str | None = None
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Any) -> Assault:
        """Validate a request body; marshmallow ValidationError if it is not a valid assault."""
        if not isinstance(body, dict):
            raise ValidationError({"_body": ["Request body must be a JSON object."]})
        data = AssaultSchema().load(body)
        pattern = re.compile(data["path"]) if "path" in data else None
        return cls(**data, _pattern=pattern)

    def to_json(self) -> dict[str, Any]:
        """The assault as the control endpoint shows it."""
        out: dict[str, Any] = {"kind": self.kind, "share": self.share, "path": self.path}
        if self.kind == "error":
            out["status"] = self.status
        if self.kind == "latency":
            out["latency_ms"] = self.latency_ms
        return out

    def targets(self, path: str) -> bool:
        return self._pattern is None or self._pattern.match(path) is not None


# ------------------------------------------------------------------ the state


class AssaultState:
    """The app's current assault and its counters. Thread-safe: gunicorn's
    threads read it on every request while the control endpoint replaces it."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self._assault: Assault | None = None
        self._since: float | None = None
        self._matched = 0
        self._injected = 0

    def set(self, assault: Assault) -> dict[str, Any]:
        """Make `assault` the active one, counters from zero; returns the new state."""
        with self._lock:
            self._assault, self._since = assault, time.time()
            self._matched = self._injected = 0
            return self._snapshot()

    def clear(self) -> dict[str, Any]:
        """Stop any assault; returns the state it had just before (with its counters)."""
        with self._lock:
            before = self._snapshot()
            self._assault = self._since = None
            self._matched = self._injected = 0
            return before

    def snapshot(self) -> dict[str, Any]:
        """`{"active", "assault", "since", "matched", "injected"}`: what runs now and how
        many requests matched its path and were assaulted since it was set."""
        with self._lock:
            return self._snapshot()

    def draw(self, path: str) -> Assault | None:
        """The assault to inflict on a request for `path`, or None to leave it alone.

        Each request that the path filter admits is assaulted with probability
        `share`, independently of the others.
        """
        with self._lock:
            assault = self._assault
            if assault is None or not assault.targets(path):
                return None
            self._matched += 1
            if self._rng.random() >= assault.share:
                return None
            self._injected += 1
            return assault

    def _snapshot(self) -> dict[str, Any]:
        return {
            "active": self._assault is not None,
            "assault": None if self._assault is None else self._assault.to_json(),
            "since": self._since,
            "matched": self._matched,
            "injected": self._injected,
        }


# ------------------------------------------------------------------ the extension


class Assaults:
    """The Flask extension. `Assaults(app)` or `Assaults().init_app(app)`.

    `url` is the control endpoint; `exempt` lists paths never assaulted
    (each also covers everything under it); `rng` may be a seeded
    `random.Random` for reproducible draws.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        url: str = DEFAULT_URL,
        exempt: tuple[str, ...] = DEFAULT_EXEMPT,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.exempt = tuple(p.rstrip("/") for p in (*exempt, url))
        self.rng = rng
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> bool:
        """Install on `app` if `switched_on(app)`; returns whether it did.

        When off, `app` is left exactly as it was.
        """
        if not switched_on(app):
            return False
        if _EXTENSION in app.extensions:
            raise RuntimeError("assaults are already installed on this app")
        state = AssaultState(self.rng)
        app.extensions[_EXTENSION] = state
        app.register_blueprint(_control_blueprint(self.url, state))
        app.before_request(self._hook(state))
        return True

    def _is_exempt(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.exempt)

    def _hook(self, state: AssaultState) -> Any:
        def assault_request() -> Response | None:
            if self._is_exempt(request.path):
                return None
            assault = state.draw(request.path)
            if assault is None:
                return None
            if assault.kind == "latency":
                time.sleep(assault.latency_ms / 1000)
                return None  # then the view runs as usual, only later
            if assault.kind == "exception":
                raise InjectedFault(f"injected by chaos assaults on {request.method} {request.path}")
            response = jsonify(error="injected fault", injected=True, kind="error", status=assault.status)
            response.status_code = assault.status
            response.headers[HEADER] = "error"
            return response

        return assault_request


def state_of(app: Flask) -> AssaultState | None:
    """The app's assault state, or None when the extension is not installed (off)."""
    return app.extensions.get(_EXTENSION)


def _json(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _control_blueprint(url: str, state: AssaultState) -> Blueprint:
    bp = Blueprint("chaos_assaults", __name__)

    @bp.route(url, methods=["GET", "PUT", "POST", "DELETE"])
    def control() -> Response:
        """GET the state; PUT/POST an assault; DELETE to stop. Loopback callers only."""
        if request.remote_addr not in LOOPBACK:
            return _json(403, {"error": "the assaults control endpoint answers loopback callers only"})
        if request.method == "GET":
            return _json(200, state.snapshot())
        if request.method == "DELETE":
            return _json(200, {"stopped": state.clear(), **state.snapshot()})
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # absurdly deep nesting; json only catches ValueError
            body = None
        try:
            assault = Assault.from_json(body)
        except ValidationError as exc:
            return _json(400, {"error": "invalid assault", "fields": exc.messages})
        return _json(200, state.set(assault))

    return bp


__all__ = ["Assault", "AssaultSchema", "AssaultState", "Assaults", "InjectedFault", "state_of", "switched_on"]
