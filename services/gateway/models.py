"""What the gateway composes. It stores nothing: users and orders own the data,
so their JSON is carried as they sent it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    """A user with their newest orders; `orders` is None when orders was
    unavailable, and `fallback_reason` then says why."""

    user: dict[str, Any]
    orders: list[dict[str, Any]] | None
    fallback_reason: str | None = None

    @property
    def degraded(self) -> bool:
        """True when the orders part could not be fetched."""
        return self.orders is None

    def to_json(self) -> dict[str, Any]:
        """The profile as the API shows it."""
        return {"user": self.user, "orders": self.orders, "degraded": self.degraded}
