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
        def relayed() -> bool:  # its own publisher was built and the row is marked sent
            return (made / str(os.getpid())).exists() and rows(users_app)[0][3] is not None

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not relayed():
            time.sleep(0.05)
        os._exit(0 if relayed() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    relay._thread.join(timeout=2)
    assert not relay._thread.is_alive()  # the forking process left relaying to its worker
    assert rows(users_app)[0][3] is not None


def receipts_of(seen: set[str]):
    return lambda: (lambda ids: [i in seen for i in ids])


def published_at(app) -> list[float | None]:
    db = connect(app.config["DATABASE"])
    try:
        return [r[0] for r in db.execute("SELECT published_at FROM outbox ORDER BY id")]
    finally:
        db.close()


def test_a_message_without_a_receipt_is_published_again_once_and_one_with_a_receipt_is_confirmed(users_app) -> None:
    """The Redis transport can lose a task a killed worker had just taken:
    the relay publishes again what has no receipt a while after it was published."""
    client = users_app.test_client()
    for n in range(2):
        client.post("/users", json={"name": "Ann", "email": f"ann{n}@example.test"})
    published = []
    seen = {"users-1"}  # the worker sent users-1; users-2 was lost on the way
    breaker = GuardedBreaker(name="redis", fail_max=2, reset_timeout=60)
    relay = outbox.Relay("users", users_app.config["DATABASE"], lambda: (lambda task_id, kwargs: published.append(task_id)),
                         breaker, make_receipts=receipts_of(seen), republish_after=60)
    other = outbox.Relay("users", users_app.config["DATABASE"], lambda: (lambda task_id, kwargs: published.append(task_id)),
                         breaker, make_receipts=receipts_of(seen), republish_after=60)
    assert relay.drain_once() == 2
    first = published_at(users_app)[1]
    # users-1's receipt is read at once; users-2 is not due yet: the broker may still deliver it
    assert relay.reconcile_once(now=first + 59) == (1, 0)
    assert relay.reconcile_once(now=first + 61) == (0, 1)
    assert other.reconcile_once(now=first + 61) == (0, 0)  # published again by one relay only
    assert published == ["users-1", "users-2", "users-2"]
    seen.add("users-2")  # the worker sent it this time
    assert other.reconcile_once(now=first + 200) == (1, 0)
    assert relay.reconcile_once(now=first + 10_000) == (0, 0)  # both confirmed: never looked at again
    assert published == ["users-1", "users-2", "users-2"]


def test_a_republish_that_fails_is_tried_again_next_round(users_app) -> None:
    users_app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})
    calls = []

    def flaky(task_id, kwargs):
        calls.append(task_id)
        if len(calls) == 2:
            raise ConnectionError("broker down")

    relay = outbox.Relay("users", users_app.config["DATABASE"], lambda: flaky,
                         GuardedBreaker(name="redis", fail_max=5, reset_timeout=60), make_receipts=receipts_of(set()))
    assert relay.drain_once() == 1
    first = published_at(users_app)[0]
    assert relay.reconcile_once(now=first + 100) == (0, 0)  # the second publish failed
    assert published_at(users_app) == [first]  # so it is due again at once
    assert relay.reconcile_once(now=first + 101) == (0, 1)
    assert calls == ["users-1", "users-1", "users-1"]


def test_receipts_that_cannot_be_read_change_nothing(users_app) -> None:
    users_app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})

    def unreadable():
        def read(ids):
            raise ConnectionError("redis away")
        return read

    published = []
    relay = outbox.Relay("users", users_app.config["DATABASE"], lambda: (lambda task_id, kwargs: published.append(task_id)),
                         GuardedBreaker(name="redis", fail_max=5, reset_timeout=60), make_receipts=unreadable)
    relay.drain_once()
    first = published_at(users_app)[0]
    assert relay.reconcile_once(now=first + 100) == (0, 0)
    assert published == ["users-1"] and published_at(users_app) == [first]


def test_an_outbox_made_before_receipts_gains_their_columns(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL,
        recipient TEXT NOT NULL, ref TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL,
        claimed_till REAL, sent_at TEXT);
        INSERT INTO outbox (message, recipient, ref, payload, created_at, sent_at) VALUES ('welcome', 'a', 'a', '{}', 'x', 'y');""")
    old.commit()
    old.close()
    db = connect(str(path))
    try:
        outbox.upgrade(db)
        outbox.upgrade(db)  # twice: nothing more to add
        columns = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
        assert {"published_at", "confirmed_at"} <= columns
        # A row sent before receipts existed has no publish time: it is never published again.
        assert outbox.unconfirmed(db) == []
    finally:
        db.close()


def test_a_receipt_left_by_the_worker_is_read_by_the_relay_through_a_real_redis(redis_url) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    outbox.leave_receipt(client, "users-2")
    assert outbox.redis_receipts(redis_url, 1.0)(["users-1", "users-2", "users-3"]) == [False, True, False]
    assert 0 < client.ttl(outbox.receipt_key("users-2")) <= outbox.RECEIPT_TTL  # kept a week, not for ever


def test_the_worker_leaves_a_receipt_once_it_has_sent(monkeypatch, redis_url) -> None:
    from notifications import worker

    monkeypatch.setattr(worker, "BROKER_URL", redis_url)
    monkeypatch.setattr(worker, "_receipts", None)
    monkeypatch.setattr(worker.delivery, "send_with_retries", lambda *a, **k: True)
    assert worker.send_email.run("orders-7", "order-confirmation", "a@example.test", "ref", {}) == "sent"
    assert outbox.redis_receipts(redis_url, 1.0)(["orders-7"]) == [True]
