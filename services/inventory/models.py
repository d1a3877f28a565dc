"""The items and reservations tables and what they store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from shopkit.db import Record, seed_if_empty, utc_now

from inventory.config import SEED_SKUS

# The CHECK is the last line of defence: stock is only ever decremented by
# services.reserve, which checks first, but a negative stock must be impossible.
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    sku        TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    stock      INTEGER NOT NULL CHECK (stock >= 0),
    created_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sku        TEXT    NOT NULL REFERENCES items (sku),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    order_ref  TEXT    NOT NULL UNIQUE,
    created_at TEXT    NOT NULL
);
"""


@dataclass(frozen=True)
class Item(Record):
    sku: str
    name: str
    stock: int
    created_at: str


@dataclass(frozen=True)
class Reservation(Record):
    id: int
    sku: str
    quantity: int
    order_ref: str
    created_at: str


def find_item(db: sqlite3.Connection, sku: str) -> Item | None:
    """The item `sku`, or None."""
    return Item.fetch_one(db, "SELECT * FROM items WHERE sku = ?", (sku,))


def list_items(db: sqlite3.Connection, limit: int) -> list[Item]:
    """The first `limit` items by SKU."""
    return Item.fetch_all(db, "SELECT * FROM items ORDER BY sku LIMIT ?", (limit,))


def insert_item(db: sqlite3.Connection, sku: str, name: str, stock: int) -> Item:
    """Store a new item; sqlite3.IntegrityError if the SKU exists."""
    return Item.fetch_one(
        db,
        "INSERT INTO items (sku, name, stock, created_at) VALUES (?, ?, ?, ?) RETURNING *",
        (sku, name, stock, utc_now()),
    )


def find_reservation(db: sqlite3.Connection, order_ref: str) -> Reservation | None:
    """The reservation made for `order_ref`, or None."""
    return Reservation.fetch_one(db, "SELECT * FROM reservations WHERE order_ref = ?", (order_ref,))


def take_stock(db: sqlite3.Connection, sku: str, quantity: int) -> None:
    """Decrement the stock of `sku`; call inside a transaction that checked it."""
    db.execute("UPDATE items SET stock = stock - ? WHERE sku = ?", (quantity, sku))


def insert_reservation(db: sqlite3.Connection, sku: str, quantity: int, order_ref: str) -> Reservation:
    """Store a reservation; call inside the transaction that takes the stock."""
    return Reservation.fetch_one(
        db,
        "INSERT INTO reservations (sku, quantity, order_ref, created_at) VALUES (?, ?, ?, ?) RETURNING *",
        (sku, quantity, order_ref, utc_now()),
    )


def seed(db: sqlite3.Connection, config: Any) -> None:
    """Stock SKU-1..SKU-5 with SEED_STOCK units each if there are no items."""
    now = utc_now()
    seed_if_empty(
        db,
        "items",
        "INSERT INTO items (sku, name, stock, created_at) VALUES (?, ?, ?, ?)",
        [(sku, f"Item {sku}", config["SEED_STOCK"], now) for sku in SEED_SKUS],
    )
