"""app and client fixtures for the inventory service, on a fresh database per test."""

import pytest

from inventory import create_app


@pytest.fixture
def app(tmp_path):
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "inventory.sqlite3"), "SEED_STOCK": 10})


@pytest.fixture
def client(app):
    return app.test_client()
