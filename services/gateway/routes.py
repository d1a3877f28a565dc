"""The public API: thin views that validate, call `gateway.services` and relay.

Downstream answers are relayed with their status, body and fallback headers,
so a 404 from users stays a 404 and a degraded 202 from orders keeps saying
which downstream it fell back from.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from shopkit.downstream import Reply
from shopkit.web import load_body, mark_fallback

from gateway import services
from gateway.schemas import NewOrderSchema, NewUserSchema

bp = Blueprint("gateway", __name__, url_prefix="/api")

RELAYED_HEADERS = ("X-Fallback", "X-Fallback-Reason")


def relay(reply: Reply) -> Response:
    """A response carrying a downstream's status, JSON body and fallback headers."""
    response = jsonify(reply.body)
    response.status_code = reply.status
    for header in RELAYED_HEADERS:
        if header in reply.headers:
            response.headers[header] = reply.headers[header]
    return response


@bp.errorhandler(services.Refused)
def refused(exc: services.Refused) -> Response:
    return relay(exc.reply)


@bp.get("/users/<id:user_id>")
def get_user(user_id: int) -> Any:
    """users' answer for the user (200, or 404 if there is none)."""
    return relay(services.get_user(user_id))


@bp.post("/users")
def create_user() -> Any:
    """users' answer to creating the user (201, 409 for a taken email)."""
    return relay(services.create_user(load_body(NewUserSchema())))


@bp.get("/users/<id:user_id>/orders")
def user_orders(user_id: int) -> Any:
    """orders' list of the user's newest orders."""
    return relay(services.user_orders(user_id))


@bp.get("/users/<id:user_id>/profile")
def profile(user_id: int) -> Any:
    """200 `{"user", "orders", "degraded"}`; with orders unavailable, orders is
    null, degraded true and X-Fallback: orders says why. 503 if users is
    unavailable, 404 if there is no such user."""
    result = services.profile(user_id)
    response = jsonify(result.to_json())
    if result.fallback_reason is not None:
        mark_fallback(response, "orders", result.fallback_reason)
    return response


@bp.post("/orders")
def create_order() -> Any:
    """orders' answer to placing the order, relayed with its status and headers."""
    return relay(services.create_order(load_body(NewOrderSchema())))


@bp.get("/orders/<id:order_id>")
def get_order(order_id: int) -> Any:
    """orders' answer for the order (200, or 404 if there is none)."""
    return relay(services.get_order(order_id))
