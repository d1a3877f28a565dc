"""The users service layer."""

from __future__ import annotations

import pytest

from users import services


def test_register_then_get(app) -> None:
    with app.app_context():
        user = services.register_user("Bob", "bob@example.test")
        assert services.get_user(user.id) == user
        assert services.get_user(user.id + 1) is None


def test_register_refuses_a_taken_email(app) -> None:
    with app.app_context():
        services.register_user("Bob", "bob@example.test")
        with pytest.raises(services.EmailTaken):
            services.register_user("Robert", "Bob@Example.Test")


def test_list_users_respects_limit(app) -> None:
    with app.app_context():
        assert [u.name for u in services.list_users(2)] == ["user-1", "user-2"]
