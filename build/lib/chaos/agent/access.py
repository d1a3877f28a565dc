"""Who may do what: reads answer anyone; control answers loopback callers,
and, when a token is configured, requests bearing it from anywhere."""

from __future__ import annotations

import hmac

from flask import Request

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def control_refusal(req: Request, token: str | None) -> str | None:
    """Why `req` may not control the agent, or None when it may."""
    if req.remote_addr in LOOPBACK:
        return None
    if token is None:
        return "the chaos agent's control endpoints answer loopback callers only (no CHAOS_AGENT_TOKEN is set)"
    scheme, _, given = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return "the chaos agent's control endpoints answer loopback callers, or others with Authorization: Bearer <token>"
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return "wrong bearer token"
    return None
