"""The agent's endpoints under its prefix P (default /_chaos).

- GET P: what this agent is and where its endpoints are;
- GET P/breakers: every watched breaker's state and counters, in this
  worker and (`workers`) in every worker of a multi-process server;
- GET P/breakers/transitions?after=N&wait=S: transitions with seq > N,
  long-polled for up to S (0..5) seconds;
- GET P/metrics: Prometheus text exposition;
- GET|PUT|POST|DELETE P/assaults: HTTP faults (chaos.agent.assaults).

Reads answer anyone; anything else answers loopback callers or a bearer
token only (chaos.agent.access). Every error reply is JSON `{"error": ...}`.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from chaos.agent import access
from chaos.contract import CONTRACT_VERSION

if TYPE_CHECKING:
    from chaos.agent.extension import Runtime

MAX_WAIT = 5.0
READ_METHODS = ("GET", "HEAD")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def json_error(status: int, message: str, /, **extra: Any) -> Response:
    """A JSON error answer: `{"error": message, **extra}` with HTTP `status`."""
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


def endpoints(prefix: str) -> dict[str, str]:
    """The paths of the agent's endpoints under `prefix`."""
    return {
        "breakers": f"{prefix}/breakers",
        "transitions": f"{prefix}/breakers/transitions",
        "assaults": f"{prefix}/assaults",
        "metrics": f"{prefix}/metrics",
    }


def _transitions_query(args: Any) -> tuple[int, float] | dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    after, wait = 0, 0.0
    raw_after = args.get("after")
    if raw_after is not None:
        if raw_after.isascii() and raw_after.isdigit() and len(raw_after) <= 18:
            after = int(raw_after)
        else:
            errors["after"] = ["Must be an integer >= 0."]
    raw_wait = args.get("wait")
    if raw_wait is not None:
        try:
            wait = float(raw_wait)
        except ValueError:
            wait = math.nan
        if not 0.0 <= wait <= MAX_WAIT:  # also refuses nan
            errors["wait"] = [f"Must be a number of seconds from 0 to {MAX_WAIT:g}."]
    for name in args.keys() - {"after", "wait"}:
        errors[name] = ["Unknown field."]
    return errors or (after, wait)


def blueprint(runtime: Runtime) -> Blueprint:
    """The agent's read endpoints (assaults are added by chaos.agent.assaults)."""
    settings = runtime.settings
    prefix = settings.prefix
    bp = Blueprint("chaos_agent", __name__)

    def refuse_writes() -> Response | None:
        if request.method in READ_METHODS:
            return None
        refusal = access.control_refusal(request, settings.token)
        if refusal is not None:
            return json_error(403, refusal)
        response = json_error(405, "method not allowed", allowed=list(READ_METHODS))
        response.headers["Allow"] = ", ".join(READ_METHODS)
        return response

    def head(boot_id: str | None = None) -> dict[str, Any]:
        return {"contract": CONTRACT_VERSION, "service": settings.service, "boot_id": boot_id or runtime.boot_id()}

    @bp.route(prefix, methods=ALL_METHODS)
    def index() -> Any:
        """What this agent is and where its endpoints are."""
        if (refused := refuse_writes()) is not None:
            return refused
        return {**head(), "agent": runtime.version, "pid": os.getpid(), "breakers_enabled": settings.breakers,
                "token_required": settings.token is not None, "endpoints": endpoints(prefix)}

    @bp.route(f"{prefix}/breakers", methods=ALL_METHODS)
    def breakers() -> Any:
        """Every watched breaker's state and counters."""
        if (refused := refuse_writes()) is not None:
            return refused
        views, pids = runtime.log.views()
        own = next(v for v in views if v["pid"] == os.getpid())
        return {**head(), "pid": os.getpid(), "now": time.time(), "enabled": settings.breakers,
                "breakers": own["breakers"],
                "workers": [{k: v[k] for k in ("pid", "boot_id", "at", "breakers")} for v in views],
                "worker_pids": pids}

    @bp.route(f"{prefix}/breakers/transitions", methods=ALL_METHODS)
    def transitions() -> Any:
        """Transitions with seq > `after`, waiting up to `wait` seconds for one."""
        if (refused := refuse_writes()) is not None:
            return refused
        query = _transitions_query(request.args)
        if isinstance(query, dict):
            return json_error(400, "invalid query", fields=query)
        last_seq, entries = runtime.log.since(*query)
        # Here boot_id names the log seq counts in: this process's, or the one
        # every worker of a multi-process server shares, so `after` holds
        # whichever worker answers and a replaced worker does not restart it.
        return {**head(runtime.log.log_id()), "last_seq": last_seq, "transitions": entries}

    @bp.route(f"{prefix}/metrics", methods=ALL_METHODS)
    def metrics() -> Any:
        """Prometheus text exposition of the watched breakers."""
        if (refused := refuse_writes()) is not None:
            return refused
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(runtime.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)

    @bp.route(f"{prefix}/<path:rest>", methods=ALL_METHODS)
    def unknown(rest: str) -> Any:
        """Anything else under the prefix: a JSON 404 listing what exists."""
        return json_error(404, f"no such chaos agent endpoint: {prefix}/{rest}", endpoints=endpoints(prefix))

    return bp
