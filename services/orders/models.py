"""The orders table and the Order it stores."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from shopkit import outbox
from shopkit.db import Record, utc_now

# "reserved": inventory holds the stock. "pending": inventory could not be
# reached; the reservation is still owed (a retry worker would take it up).
STATUS_RESERVED = "reserved"
STATUS_PENDING = "pending"

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    sku        TEXT    NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    status     TEXT    NOT NULL CHECK (status IN ('reserved', 'pending')),
    client_ref TEXT    NOT NULL UNIQUE,
    created_at TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, id);
""" + outbox.SCHEMA


@dataclass(frozen=True)
class Order(Record):
    id: int
    user_id: int
    sku: str
    quantity: int
    status: str
    client_ref: str
    created_at: str


def find(db: sqlite3.Connection, order_id: int) -> Order | None:
    """The order `order_id`, or None."""
    return Order.fetch_one(db, "SELECT * FROM orders WHERE id = ?", (order_id,))


def find_by_ref(db: sqlite3.Connection, client_ref: str) -> Order | None:
    """The order placed with `client_ref`, or None."""
    return Order.fetch_one(db, "SELECT * FROM orders WHERE client_ref = ?", (client_ref,))


def for_user(db: sqlite3.Connection, user_id: int, limit: int) -> list[Order]:
    """The newest `limit` orders of `user_id`, newest first."""
    return Order.fetch_all(db, "SELECT * FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit))


def insert(db: sqlite3.Connection, *, user_id: int, sku: str, quantity: int, status: str, client_ref: str) -> Order:
    """Store a new order; sqlite3.IntegrityError if `client_ref` was used."""
    return Order.fetch_one(
        db,
        "INSERT INTO orders (user_id, sku, quantity, status, client_ref, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        (user_id, sku, quantity, status, client_ref, utc_now()),
    )
