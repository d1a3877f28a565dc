"""What the gateway does: forwards to users and orders and composes profiles.

Every call goes through `shopkit.downstream`, so it is timed out and guarded
by that downstream's breaker. `Unavailable` is left to propagate (answered
503 by shopkit.web) except where a degraded answer makes sense: the profile
without its orders.
"""

from __future__ import annotations

from typing import Any

from shopkit import downstream
from shopkit.downstream import Reply, Unavailable

from gateway.models import Profile


class Refused(Exception):
    """A downstream answered with an error the client should see as it is."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"downstream answered {reply.status}")
        self.reply = reply


def get_user(user_id: int) -> Reply:
    """users' answer to GET /users/<user_id>."""
    return downstream.client("users").get(f"/users/{user_id}")


def create_user(data: dict[str, Any]) -> Reply:
    """users' answer to POST /users with `data`."""
    return downstream.client("users").post("/users", data)


def user_orders(user_id: int) -> Reply:
    """orders' answer to GET /orders?user_id=<user_id>."""
    return downstream.client("orders").get("/orders", params={"user_id": user_id})


def create_order(data: dict[str, Any]) -> Reply:
    """orders' answer to POST /orders with `data`."""
    return downstream.client("orders").post("/orders", data)


def get_order(order_id: int) -> Reply:
    """orders' answer to GET /orders/<order_id>."""
    return downstream.client("orders").get(f"/orders/{order_id}")


def profile(user_id: int) -> Profile:
    """The user with their newest orders, or without them if orders is unavailable.

    Raises Unavailable when users is (there is no profile without the user)
    and Refused with users' or orders' error answer (404 for no such user).
    """
    user = get_user(user_id)
    if not user.ok:
        raise Refused(user)
    try:
        orders = user_orders(user_id)
    except Unavailable as exc:
        return Profile(user.body, None, fallback_reason=exc.reason)
    if not orders.ok:
        raise Refused(orders)
    return Profile(user.body, orders.body)
