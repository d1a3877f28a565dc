"""app and client fixtures for the users service, on a fresh database per test."""

import pytest

from users import create_app


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3"), "SEED_USERS": 3})


@pytest.fixture
def client(app):
    return app.test_client()
