"""Assaults: HTTP-level faults injected inside a Flask app, switched on at run time.

Like the "assaults" of Spring's Chaos Monkey: while an assault is active, a
share of the app's requests (optionally only those whose path matches a
regex) is answered with an injected 5xx, raises an exception that the app's
own 500 handler answers, or waits before its view runs. Toxiproxy can slow or
cut a connection, but only the app itself can answer "500" to one request in
three on one route, and that is the failure most callers meet in practice.

The chaos agent (`chaos.agent.ChaosAgent`) serves them at `<prefix>/assaults`
(see docs/agent.md). `Assaults` below is the older stand-alone extension,
switched by `CHAOS_ASSAULTS`, kept until the sample shop moves to the agent.

The request body of PUT/POST is validated by hand, not by a schema library,
so the agent needs nothing beyond Flask: `{"kind": "error"|"exception"|
"latency", "share": 0..1, "status": 500..599, "latency_ms": 0..60000,
"path": "regex"}` with unknown fields, wrong types and fields that do not
belong to the kind refused by a 400 naming each bad field. Its JSON Schema is
`chaos/contract/v1/assault.schema.json`.

The control endpoint is never assaulted itself, and neither are the paths
given as `exempt` (each with everything under it), so the toolkit can still
see the service's health and breakers during an assault.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Request, Response, jsonify, request

from chaos.agent.settings import switch
from chaos.agent.shared_assault import SharedAssault

KINDS = ("error", "exception", "latency")
DEFAULT_URL = "/_chaos/assaults"
DEFAULT_EXEMPT = ("/health", "/breakers")
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
MAX_LATENCY_MS = 60_000
MAX_PATTERN = 256
HEADER = "X-Chaos-Assault"
BODY_NOT_AN_OBJECT = "Request body must be a JSON object."

_EXTENSION = "chaos.assaults"

# Says why a request may not control assaults, or None when it may.
AccessCheck = Callable[[Request], "str | None"]


class InjectedFault(RuntimeError):
    """Raised in a request by an assault of kind "exception"."""


class InvalidAssault(ValueError):
    """A request body that is not a valid assault; `messages` maps each bad
    field (or "_body") to what is wrong with it."""

    def __init__(self, messages: dict[str, list[str]]) -> None:
        super().__init__(messages)
        self.messages = messages


def switched_on(app: Flask) -> bool:
    """True when `app.config["CHAOS_ASSAULTS"]` (or, if unset, the environment
    variable of that name) says on. ValueError for a word that is neither on
    nor off, so a typo stops the app at start-up instead of silently meaning off."""
    return switch(app, "CHAOS_ASSAULTS", False)


# ------------------------------------------------------------------ the spec


def _number(value: Any, low: float, high: float) -> str | None:
    # bool is an int to Python but not a number to a JSON reader.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "Not a valid number."
    if not low <= value <= high:
        return f"Must be greater than or equal to {low} and less than or equal to {high}."
    return None


def _integer(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Not a valid integer."
    return _number(value, low, high)


def _pattern(value: Any) -> str | None:
    if not isinstance(value, str):
        return "Not a valid string."
    if not 1 <= len(value) <= MAX_PATTERN:
        return f"Length must be between 1 and {MAX_PATTERN}."
    try:
        re.compile(value)
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    return None


def validate_assault(body: Any) -> dict[str, Any]:
    """The fields of a valid assault body, with `share` defaulted to 1.0.

    Raises InvalidAssault naming every bad field: unknown fields, wrong
    types (a JSON number only; "0.5" and true are not numbers), values out of
    range, and fields that do not belong to the kind.
    """
    if not isinstance(body, dict):
        raise InvalidAssault({"_body": [BODY_NOT_AN_OBJECT]})
    errors: dict[str, list[str]] = {}
    for name in body.keys() - {"kind", "share", "status", "latency_ms", "path"}:
        errors[str(name)] = ["Unknown field."]
    kind = body.get("kind")
    if "kind" not in body:
        errors["kind"] = ["Missing data for required field."]
    elif kind not in KINDS:
        errors["kind"] = [f"Must be one of: {', '.join(KINDS)}."]
    checks = {
        "share": lambda v: _number(v, 0.0, 1.0),
        "status": lambda v: _integer(v, 500, 599),
        "latency_ms": lambda v: _integer(v, 0, MAX_LATENCY_MS),
        "path": _pattern,
    }
    for name, check in checks.items():
        if name in body and (message := check(body[name])):
            errors[name] = [message]
    if kind == "latency" and "latency_ms" not in body:
        errors["latency_ms"] = ["Required for kind latency."]
    if kind != "latency" and "latency_ms" in body:
        errors["latency_ms"] = ["Only for kind latency."]
    if kind != "error" and "status" in body:
        errors["status"] = ["Only for kind error."]
    if errors:
        raise InvalidAssault(errors)
    data = {k: body[k] for k in checks if k in body}
    data["share"] = float(body.get("share", 1.0))
    return {"kind": kind, **data}


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
        """Validate a request body; InvalidAssault if it is not a valid assault."""
        data = validate_assault(body)
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
        # Where a multi-process server's workers share one assault (the
        # agent sets it: chaos.agent.shared_assault); None: this process alone.
        self.shared_dir: Callable[[], Path | None] | None = None
        self._store: SharedAssault | None = None
        self._id: str | None = None

    def set(self, assault: Assault) -> dict[str, Any]:
        """Make `assault` the active one, counters from zero; returns the new state."""
        with self._lock:
            store = self._sync()
            self._assault, self._since = assault, time.time()
            self._matched = self._injected = 0
            if store is not None:
                body = {k: v for k, v in assault.to_json().items() if v is not None}
                self._id = store.write(body, self._since)
            return self._snapshot(store)

    def clear(self) -> dict[str, Any]:
        """Stop any assault; returns the state it had just before (with its counters)."""
        with self._lock:
            store = self._sync()
            before = self._snapshot(store)
            self._assault = self._since = None
            self._matched = self._injected = 0
            if store is not None:
                self._id = store.write(None, None)
            return before

    def snapshot(self) -> dict[str, Any]:
        """`{"active", "assault", "since", "matched", "injected"}`: what runs now and how
        many requests matched its path and were assaulted since it was set
        (by every worker, where they share one assault)."""
        with self._lock:
            return self._snapshot(self._sync())

    def draw(self, path: str) -> Assault | None:
        """The assault to inflict on a request for `path`, or None to leave it alone.

        Each request that the path filter admits is assaulted with probability
        `share`, independently of the others.
        """
        with self._lock:
            store = self._sync()
            assault = self._assault
            if assault is None or not assault.targets(path):
                return None
            self._matched += 1
            hit = self._rng.random() < assault.share
            if hit:
                self._injected += 1
            if store is not None and self._id is not None:
                store.publish_counts(self._id, self._matched, self._injected)
            return assault if hit else None

    def _sync(self) -> SharedAssault | None:
        """The shared store, with this worker's assault brought up to date
        from it; None without one. Called with the lock held."""
        where = self.shared_dir() if self.shared_dir is not None else None
        if where is None:
            return None
        if self._store is None or self._store.dir != where:
            self._store = SharedAssault(where)
        content = self._store.changed()
        if content is not None and content["id"] != self._id:
            if self._id is not None and self._assault is not None:
                self._store.publish_counts(self._id, self._matched, self._injected)
            body = content.get("assault")
            try:
                self._assault = Assault.from_json(body) if body else None
            except InvalidAssault:
                self._assault = None  # not ours to trust: another version wrote it
            self._since = content.get("since") if self._assault is not None else None
            self._id = content["id"]
            self._matched = self._injected = 0
        return self._store

    def _snapshot(self, store: SharedAssault | None = None) -> dict[str, Any]:
        matched, injected = self._matched, self._injected
        if store is not None and self._id is not None:
            matched, injected = store.totals(self._id, (matched, injected))
        return {
            "active": self._assault is not None,
            "assault": None if self._assault is None else self._assault.to_json(),
            "since": self._since,
            "matched": matched,
            "injected": injected,
        }


# ------------------------------------------------------------------ installing


def install(app: Flask, state: AssaultState, *, url: str, exempt: tuple[str, ...], allowed: AccessCheck,
            blueprint_name: str = "chaos_assaults") -> None:
    """Add the control endpoint `url` (guarded by `allowed`) and the request
    hook that inflicts `state`'s assault on every path not under `exempt` or `url`."""
    skipped = tuple(p.rstrip("/") for p in (*exempt, url))
    app.register_blueprint(_control_blueprint(url, state, allowed, blueprint_name))
    app.before_request(_hook(state, skipped))


def _hook(state: AssaultState, skipped: tuple[str, ...]) -> Callable[[], Response | None]:
    def assault_request() -> Response | None:
        path = request.path
        if any(path == p or path.startswith(p + "/") for p in skipped):
            return None
        assault = state.draw(path)
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


def loopback_only(req: Request) -> str | None:
    """The access rule of the stand-alone extension: loopback callers only."""
    if req.remote_addr in LOOPBACK:
        return None
    return "the assaults control endpoint answers loopback callers only"


def _json(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _control_blueprint(url: str, state: AssaultState, allowed: AccessCheck, name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.route(url, methods=["GET", "PUT", "POST", "DELETE"])
    def control() -> Response:
        """GET the state; PUT/POST an assault; DELETE to stop. Callers `allowed` admits only."""
        refusal = allowed(request)
        if refusal is not None:
            return _json(403, {"error": refusal})
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
        except InvalidAssault as exc:
            return _json(400, {"error": "invalid assault", "fields": exc.messages})
        return _json(200, state.set(assault))

    return bp


# ------------------------------------------------------------------ the stand-alone extension


class Assaults:
    """The stand-alone extension, switched by CHAOS_ASSAULTS, loopback callers
    only. `Assaults(app)` or `Assaults().init_app(app)`.

    `url` is the control endpoint; `exempt` lists paths never assaulted
    (each also covers everything under it); `rng` may be a seeded
    `random.Random` for reproducible draws. New apps use `ChaosAgent`.
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
        self.exempt = exempt
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
        install(app, state, url=self.url, exempt=self.exempt, allowed=loopback_only)
        return True


def state_of(app: Flask) -> AssaultState | None:
    """The app's assault state, or None when no assaults are installed."""
    return app.extensions.get(_EXTENSION)


__all__ = [
    "Assault",
    "AssaultState",
    "Assaults",
    "InjectedFault",
    "InvalidAssault",
    "install",
    "loopback_only",
    "state_of",
    "switched_on",
    "validate_assault",
]
