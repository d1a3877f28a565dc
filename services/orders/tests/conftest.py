"""Fixtures for the orders service: a real inventory served on a local port,
and an orders app that reaches it over HTTP, as it would through Toxiproxy."""

import pytest

import inventory
from orders import create_app

# Short enough to keep failure tests fast, long enough for a loaded CI box.
READ_TIMEOUT = 0.2
# With the real inventory behind it, no test is about a timeout: a machine
# busy elsewhere (the unit tests run beside the integration tests at the
# lowest priority) must not turn a slow answer into a refusal.
PATIENT = 5.0


@pytest.fixture
def inventory_app(tmp_path):
    return inventory.create_app({"TESTING": True, "DATABASE": str(tmp_path / "inventory.sqlite3"), "SEED_STOCK": 10})


@pytest.fixture
def make_orders(tmp_path):
    """`make_orders(inventory_url)`: an orders app using that inventory."""

    def make(inventory_url: str, **config):
        return create_app(
            {
                "TESTING": True,
                "DATABASE": str(tmp_path / "orders.sqlite3"),
                "INVENTORY_URL": inventory_url,
                "READ_TIMEOUT": READ_TIMEOUT,
                "BREAKER_FAIL_MAX": 2,
                "BREAKER_RESET_TIMEOUT": 30,
                "CHAOS_AGENT": True,
                "CHAOS_BREAKERS": True,
                **config,
            }
        )

    return make


@pytest.fixture
def app(make_orders, serve, inventory_app):
    return make_orders(serve(inventory_app), READ_TIMEOUT=PATIENT)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def stock(inventory_app):
    """`stock(sku)`: what inventory has left."""
    return lambda sku="SKU-1": inventory_app.test_client().get(f"/items/{sku}").json["stock"]
