"""The outbox: a promise commits with its row, and the relay publishes each
row once the broker takes it, keeping it while the broker fails."""

from __future__ import annotations

import pytest

from shopkit import outbox
from shopkit.breakers import GuardedBreaker
from shopkit.db import connect


@pytest.fixture
def users_app(tmp_path):
    from users import create_app

    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3"), "SEED_USERS": 1})


def rows(app) -> list[tuple]:
    db = connect(app.config["DATABASE"])
    try:
        return [tuple(r) for r in db.execute("SELECT message, recipient, ref, sent_at FROM outbox ORDER BY id")]
    finally:
        db.close()


def test_registration_promises_a_welcome_in_its_own_transaction(users_app) -> None:
    client = users_app.test_client()
    assert client.post("/users", json={"name": "Ann", "email": "ann@example.test"}).status_code == 201
    assert client.post("/users", json={"name": "Ann", "email": "ANN@example.test"}).status_code == 409
    # The refused registration rolled back with its user: one promise, not two.
    assert rows(users_app) == [("welcome", "ann@example.test", "ann@example.test", None)]


def test_an_order_promises_a_confirmation_once_per_client_ref(tmp_path, refused_url) -> None:
    from orders import create_app

    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "o.sqlite3"), "INVENTORY_URL": refused_url})
    client = app.test_client()
    body = {"user_id": 3, "sku": "SKU-1", "quantity": 1, "client_ref": "ref-1"}
    assert client.post("/orders", json=body).status_code == 202  # inventory refused: pending, still promised
    assert client.post("/orders", json=body).status_code == 200  # the retry stores nothing new
    assert rows(app) == [("order-confirmation", "user-3@example.test", "ref-1", None)]


def make_relay(app, publish, fail_max: int = 2) -> outbox.Relay:
    breaker = GuardedBreaker(name="redis", fail_max=fail_max, reset_timeout=60)
    return outbox.Relay("users", app.config["DATABASE"], lambda: publish, breaker)


def test_relay_publishes_with_the_outbox_id_and_marks_sent(users_app) -> None:
    users_app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})
    published = []
    relay = make_relay(users_app, lambda task_id, kwargs: published.append((task_id, kwargs["message"], kwargs["ref"])))
    assert relay.drain_once() == 1
    assert published == [("users-1", "welcome", "ann@example.test")]
    assert relay.drain_once() == 0
    assert rows(users_app)[0][3] is not None


def test_relay_keeps_rows_while_the_broker_fails_and_its_breaker_opens(users_app) -> None:
    client = users_app.test_client()
    for n in range(3):
        client.post("/users", json={"name": "Ann", "email": f"ann{n}@example.test"})
    calls = []

    def down(task_id, kwargs):
        calls.append(task_id)
        raise ConnectionError("broker down")

    relay = make_relay(users_app, down)
    assert [relay.drain_once() for _ in range(4)] == [0, 0, 0, 0]
    # Two failures opened the breaker: the later drains never reached the broker.
    assert calls == ["users-1", "users-1"]
    assert relay.breaker.current_state == "open"
    assert all(r[3] is None for r in rows(users_app))

    published = []
    relay = make_relay(users_app, lambda task_id, kwargs: published.append(task_id))
    assert relay.drain_once() == 3
    assert published == ["users-1", "users-2", "users-3"]


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(users_app) -> None:
    users_app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})
    db = connect(users_app.config["DATABASE"])
    try:
        assert [p.id for p in outbox.claim(db, now=1000.0)] == [1]
        assert outbox.claim(db, now=1000.0 + outbox.LEASE - 1) == []
        assert [p.id for p in outbox.claim(db, now=1000.0 + outbox.LEASE + 1)] == [1]
    finally:
        db.close()


def test_a_forked_worker_relays_with_its_own_publisher_and_the_forking_process_stops(users_app, tmp_path) -> None:
    import os
    import time

    made = tmp_path / "publishers"
    made.mkdir()

    def make_publisher():
        (made / str(os.getpid())).touch()  # one file per process that built a publisher
        return lambda task_id, kwargs: None

    relay = outbox.Relay("users", users_app.config["DATABASE"], make_publisher,
                         GuardedBreaker(name="redis", fail_max=5, reset_timeout=60), idle=0.05)
    relay.start()
    pid = os.fork()
    if pid == 0:  # the worker: its relay thread publishes a new row, with a publisher of its own
        users_app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (made / str(os.getpid())).exists():
            time.sleep(0.05)
        os._exit(0 if (made / str(os.getpid())).exists() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    relay._thread.join(timeout=2)
    assert not relay._thread.is_alive()  # the forking process left relaying to its worker
    assert rows(users_app)[0][3] is not None
