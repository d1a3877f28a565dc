"""Business rules of the inventory service."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from shopkit.db import get_db, transaction

from inventory import models
from inventory.models import Item, Reservation


class ItemExists(Exception):
    """An item with this SKU already exists."""


class UnknownSku(Exception):
    """There is no item with this SKU."""


class OutOfStock(Exception):
    """The item has fewer units than asked for."""


@dataclass(frozen=True)
class ReservationResult:
    reservation: Reservation
    created: bool  # False when order_ref had already reserved


def list_items(limit: int) -> list[Item]:
    """Up to `limit` items, by SKU."""
    return models.list_items(get_db(), limit)


def get_item(sku: str) -> Item | None:
    """The item `sku`, or None."""
    return models.find_item(get_db(), sku)


def add_item(sku: str, name: str, stock: int) -> Item:
    """Create and return an item; ItemExists if the SKU is taken."""
    try:
        return models.insert_item(get_db(), sku, name, stock)
    except sqlite3.IntegrityError:
        raise ItemExists(sku) from None


def reserve(sku: str, quantity: int, order_ref: str) -> ReservationResult:
    """Take `quantity` units of `sku` for `order_ref`, once.

    The check, the decrement and the reservation commit together or not at
    all. A repeat of an `order_ref` returns its first reservation (created
    False) and takes nothing, whatever sku and quantity it carries: the
    order was placed once. Raises UnknownSku or OutOfStock, taking nothing.
    """
    db = get_db()
    with transaction(db):
        existing = models.find_reservation(db, order_ref)
        if existing is not None:
            return ReservationResult(existing, created=False)
        item = models.find_item(db, sku)
        if item is None:
            raise UnknownSku(sku)
        if item.stock < quantity:
            raise OutOfStock(sku)
        models.take_stock(db, sku, quantity)
        return ReservationResult(models.insert_reservation(db, sku, quantity, order_ref), created=True)
