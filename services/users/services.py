"""Business rules of the users service."""

from __future__ import annotations

import sqlite3

from shopkit.db import get_db

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
    """Create and return a user, committed before this returns.

    Raises EmailTaken if the address (compared case-insensitively) is in use.
    """
    try:
        return models.insert(get_db(), name, email)
    except sqlite3.IntegrityError:
        raise EmailTaken(email) from None
