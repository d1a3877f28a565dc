"""Business rules of the users service."""

from __future__ import annotations

import sqlite3

from flask import current_app

from shopkit import outbox
from shopkit.db import get_db, transaction

from users import models
from users.models import User


class EmailTaken(Exception):
    """Another user already has this email address."""


def list_users(limit: int) -> list[User]:
    """Up to `limit` users, oldest first."""
    return models.list_all(get_db(), limit)


def get_user(user_id: int) -> User | None:
    """The user `user_id`, or None if there is no such user."""
    return models.find(get_db(), user_id)


def register_user(name: str, email: str) -> User:
    """Create and return a user, committed before this returns, with its
    welcome e-mail in the outbox in the same transaction (the relay sends it
    to the broker later: registering never waits for the broker).

    Raises EmailTaken if the address (compared case-insensitively) is in use.
    """
    db = get_db()
    try:
        with transaction(db):
            user = models.insert(db, name, email)
            outbox.add(db, message="welcome", recipient=user.email, ref=user.email,
                       payload={"user_id": user.id, "name": user.name})
    except sqlite3.IntegrityError:
        raise EmailTaken(email) from None
    outbox.notify(current_app)
    return user
