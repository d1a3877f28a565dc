"""Fixtures for the gateway: the real users, orders and inventory services on
local ports (a whole shop in one process), or fake downstreams that fail."""

import pytest

import inventory
import orders
import users
from gateway import create_app

READ_TIMEOUT = 0.2
# With the real services behind it, no test is about a timeout: a machine
# busy elsewhere (the unit tests run beside the integration tests at the
# lowest priority) must not turn a slow answer into a fallback.
PATIENT = 5.0


@pytest.fixture
def make_gateway():
    """`make_gateway(users_url, orders_url, **config)`: a gateway using those
    downstreams, its chaos agent on (breakers under /_chaos/breakers)."""

    def make(users_url: str, orders_url: str, **config):
        return create_app(
            {
                "TESTING": True,
                "USERS_URL": users_url,
                "ORDERS_URL": orders_url,
                "READ_TIMEOUT": READ_TIMEOUT,
                "BREAKER_FAIL_MAX": 3,
                "BREAKER_RESET_TIMEOUT": 30,
                "CHAOS_AGENT": True,
                "CHAOS_BREAKERS": True,
                **config,
            }
        )

    return make


@pytest.fixture
def users_url(serve, tmp_path):
    return serve(users.create_app({"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3"), "SEED_USERS": 3}))


@pytest.fixture
def orders_url(serve, tmp_path):
    inventory_url = serve(
        inventory.create_app({"TESTING": True, "DATABASE": str(tmp_path / "inventory.sqlite3"), "SEED_STOCK": 10})
    )
    return serve(
        orders.create_app(
            {"TESTING": True, "DATABASE": str(tmp_path / "orders.sqlite3"), "INVENTORY_URL": inventory_url,
             "READ_TIMEOUT": PATIENT}
        )
    )


@pytest.fixture
def app(make_gateway, users_url, orders_url):
    return make_gateway(users_url, orders_url, READ_TIMEOUT=PATIENT)


@pytest.fixture
def client(app):
    return app.test_client()
