"""The users table and the User it stores."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from shopkit import outbox
from shopkit.db import Record, seed_if_empty, utc_now

# COLLATE NOCASE: Ann@Example.test and ann@example.test are one mailbox to
# every mail system that matters, so they are one user here.
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    email      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    created_at TEXT    NOT NULL
);
""" + outbox.SCHEMA


@dataclass(frozen=True)
class User(Record):
    id: int
    name: str
    email: str
    created_at: str


def find(db: sqlite3.Connection, user_id: int) -> User | None:
    """The user with `user_id`, or None."""
    return User.fetch_one(db, "SELECT * FROM users WHERE id = ?", (user_id,))


def list_all(db: sqlite3.Connection, limit: int) -> list[User]:
    """The first `limit` users, oldest first."""
    return User.fetch_all(db, "SELECT * FROM users ORDER BY id LIMIT ?", (limit,))


def insert(db: sqlite3.Connection, name: str, email: str) -> User:
    """Store a new user and return it; sqlite3.IntegrityError if the email is taken."""
    return User.fetch_one(
        db,
        "INSERT INTO users (name, email, created_at) VALUES (?, ?, ?) RETURNING *",
        (name, email, utc_now()),
    )


def seed(db: sqlite3.Connection, config: Any) -> None:
    """Create users 1..SEED_USERS if the table is empty."""
    now = utc_now()
    seed_if_empty(
        db,
        "users",
        "INSERT INTO users (id, name, email, created_at) VALUES (?, ?, ?, ?)",
        [(n, f"user-{n}", f"user-{n}@example.test", now) for n in range(1, config["SEED_USERS"] + 1)],
    )
