"""Business rules of the orders service."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from flask import current_app

from shopkit import downstream, outbox
from shopkit.db import get_db, transaction
from shopkit.downstream import Unavailable

from orders import models
from orders.config import USER_ORDERS_LIMIT
from orders.models import STATUS_PENDING, STATUS_RESERVED, Order


class UnknownSku(Exception):
    """Inventory has no item with this SKU."""


class OutOfStock(Exception):
    """Inventory has fewer units than ordered."""


class InventoryRefused(Exception):
    """Inventory answered a reservation with an unexpected 4xx status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"inventory answered {status}")
        self.status = status


@dataclass(frozen=True)
class Placement:
    """What place_order did."""

    order: Order
    created: bool  # False: client_ref had already placed this order
    fallback_reason: str | None = None  # why the order is pending, if it is


def get_order(order_id: int) -> Order | None:
    """The order `order_id`, or None."""
    return models.find(get_db(), order_id)


def orders_of(user_id: int) -> list[Order]:
    """The newest USER_ORDERS_LIMIT orders of `user_id`, newest first."""
    return models.for_user(get_db(), user_id, USER_ORDERS_LIMIT)


def place_order(*, user_id: int, sku: str, quantity: int, client_ref: str) -> Placement:
    """Reserve stock through inventory, then store the order; once per client_ref.

    A repeated `client_ref` returns the stored order and reserves nothing.
    When inventory is Unavailable (down, slow, failing, or its breaker open)
    the order is stored as pending, with the reason, instead of failing.
    Raises UnknownSku, OutOfStock or InventoryRefused for inventory's 4xx
    answers, storing nothing. A stored order has its confirmation e-mail in
    the outbox, committed with it.
    """
    existing = models.find_by_ref(get_db(), client_ref)
    if existing is not None:
        return Placement(existing, created=False)

    # The call is made outside any database transaction: holding SQLite's
    # write lock while inventory is slow would stall every other writer.
    status, fallback_reason = STATUS_RESERVED, None
    try:
        reply = downstream.client("inventory").post(
            "/reservations", {"sku": sku, "quantity": quantity, "order_ref": client_ref}
        )
    except Unavailable as exc:
        status, fallback_reason = STATUS_PENDING, exc.reason
    else:
        if reply.status == 404:
            raise UnknownSku(sku)
        if reply.status == 409:
            raise OutOfStock(sku)
        if not reply.ok:
            raise InventoryRefused(reply.status)

    db = get_db()
    try:
        # The confirmation is promised in the order's own transaction: there
        # is one exactly when the order is stored (the relay publishes it).
        with transaction(db):
            order = models.insert(db, user_id=user_id, sku=sku, quantity=quantity, status=status, client_ref=client_ref)
            outbox.add(db, message="order-confirmation", recipient=f"user-{user_id}@example.test", ref=client_ref,
                       payload={"order_id": order.id, "sku": sku, "quantity": quantity, "status": status})
    except sqlite3.IntegrityError:
        # A concurrent request with the same client_ref stored it first;
        # inventory reserved once for both, since it is idempotent on order_ref.
        twin = models.find_by_ref(get_db(), client_ref)
        if twin is None:
            raise
        return Placement(twin, created=False)
    outbox.notify(current_app)
    return Placement(order, created=True, fallback_reason=fallback_reason)
