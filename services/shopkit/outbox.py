"""The transactional outbox: messages a service promised, and the relay that
hands them to the broker.

A service that promises a message (users: a welcome e-mail on registration;
orders: an order confirmation) writes it as an outbox row in the SAME SQLite
transaction as the user or the order (`add`). The request then answers at
once: it never talks to the broker, so a broker that is down or slow cannot
block it, and a promise exists exactly when its user or order does (both
commit or neither does).

`Relay`, a daemon thread in the service, drains unsent rows to the broker
(Celery's `send_task`, task id = the outbox id), each publish with a timeout
and through the service's breaker on its broker edge ("redis"): while the
broker is down the breaker opens, the relay stops trying for the reset
timeout, and the rows wait in the database until the broker is back. A row is
marked sent only after the broker accepted it, so a relay killed between the
two publishes it again on restart: publishing is at least once, and the
worker's idempotency (keyed by the outbox id) turns that into one delivery.

Why a thread in the service, not a unit of its own: the outbox lives in the
service's own SQLite file, which only that service's processes should open
(in the Docker runtime it is a volume of that container alone). With more
than one worker process (gunicorn -w 4) each runs a relay (see `Relay` for
the fork); a row is claimed with a lease in a write transaction before it
is published, so two relays do not publish the same row at the same time
(and if a lease runs out mid-publish, the worker's idempotency still holds).

Written by hand: no kept library implements an outbox for SQLite + Celery
(the known ones are Django or SQLAlchemy extensions).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shopkit.breakers import CircuitBreakerError, GuardedBreaker
from shopkit.db import connect, transaction, utc_now

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    message      TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    ref          TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    claimed_till REAL,
    sent_at      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent_at, id);
"""

TASK = "notifications.send_email"
# How long a relay owns the rows it claimed: far above a publish's timeout.
LEASE = 30.0
BATCH = 50


@dataclass(frozen=True)
class Pending:
    """One claimed outbox row, ready to publish."""

    id: int
    message: str
    recipient: str
    ref: str
    payload: dict[str, Any]


def outbox_id(service: str, row_id: int) -> str:
    """The message's id across the whole system: '<service>-<row id>'."""
    return f"{service}-{row_id}"


def add(db: sqlite3.Connection, *, message: str, recipient: str, ref: str, payload: dict[str, Any]) -> int:
    """Store a promised message; call inside the caller's `transaction(db)`
    so it commits with (and only with) the row it is about. Returns its row id."""
    cur = db.execute(
        "INSERT INTO outbox (message, recipient, ref, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (message, recipient, ref, json.dumps(payload), utc_now()),
    )
    return int(cur.lastrowid or 0)


def claim(db: sqlite3.Connection, limit: int = BATCH, now: float | None = None) -> list[Pending]:
    """Lease up to `limit` unsent rows nobody else holds, oldest first."""
    now = time.time() if now is None else now
    with transaction(db):
        rows = db.execute(
            "SELECT * FROM outbox WHERE sent_at IS NULL AND (claimed_till IS NULL OR claimed_till < ?) ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        db.executemany("UPDATE outbox SET claimed_till = ? WHERE id = ?", [(now + LEASE, r["id"]) for r in rows])
    return [Pending(r["id"], r["message"], r["recipient"], r["ref"], json.loads(r["payload"])) for r in rows]


def mark_sent(db: sqlite3.Connection, row_id: int) -> None:
    """Record that the broker accepted row `row_id`."""
    db.execute("UPDATE outbox SET sent_at = ?, claimed_till = NULL WHERE id = ?", (utc_now(), row_id))


def release(db: sqlite3.Connection, row_ids: list[int]) -> None:
    """Give back rows this relay claimed but could not publish, for the next try."""
    db.executemany("UPDATE outbox SET claimed_till = NULL WHERE id = ? AND sent_at IS NULL", [(i,) for i in row_ids])


def unsent(db: sqlite3.Connection) -> int:
    """How many promised messages still wait for the broker."""
    return int(db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])


def celery_publisher(broker_url: str, timeout: float) -> Callable[[str, dict[str, Any]], None]:
    """A `publish(task_id, kwargs)` that sends TASK to the broker once, giving up
    after about `timeout` seconds (no retry: the relay and its breaker decide)."""
    from celery import Celery  # only a service that relays needs Celery loaded

    app = Celery("shop-relay", broker=broker_url)
    app.conf.update(
        broker_connection_timeout=timeout,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        broker_transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout, "max_retries": 0},
        broker_pool_limit=1,
    )

    def publish(task_id: str, kwargs: dict[str, Any]) -> None:
        app.send_task(TASK, kwargs=kwargs, task_id=task_id, retry=False)

    return publish


class Relay:
    """Drains the outbox of `database` to the broker, through `breaker`.

    Fork-safe, for gunicorn's preload_app (the master builds the app, starts
    this relay, then forks the workers): a fork waits until no drain is in
    flight (so no lock, of the breaker or of SQLite, is copied held); the
    master then stops relaying, and each worker starts its own thread with
    its own broker connection (`make_publisher` is called again in each
    process that publishes). Every worker relays; leases keep them apart.
    """

    def __init__(self, service: str, database: str, make_publisher: Callable[[], Callable[[str, dict[str, Any]], None]],
                 breaker: GuardedBreaker, idle: float = 0.5) -> None:
        self.service = service
        self.database = database
        self.make_publisher = make_publisher
        self.breaker = breaker
        self.idle = idle
        self._publisher: tuple[int, Callable[[str, dict[str, Any]], None]] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fork_hooks = False

    def publish(self, task_id: str, kwargs: dict[str, Any]) -> None:
        """Publish one task with this process's own publisher."""
        if self._publisher is None or self._publisher[0] != os.getpid():
            self._publisher = (os.getpid(), self.make_publisher())
        self._publisher[1](task_id, kwargs)

    def start(self) -> None:
        """Start the relay's daemon thread in this process (and in every
        process forked from it, the forking one stopping its own)."""
        if not self._fork_hooks:
            self._fork_hooks = True
            os.register_at_fork(before=self._busy.acquire, after_in_parent=self._after_fork_in_parent,
                                after_in_child=self._after_fork_in_child)
        self._thread = threading.Thread(target=self._loop, name=f"outbox-relay-{os.getpid()}", daemon=True)
        self._thread.start()

    def _after_fork_in_parent(self) -> None:
        # The process that forks workers (gunicorn's master) leaves relaying to them.
        self._stop.set()
        self._wake.set()
        self._busy.release()

    def _after_fork_in_child(self) -> None:
        self._busy = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        if self._thread is not None:  # it was relaying before the fork: carry on in this process
            self.start()

    def stop(self) -> None:
        """Stop the thread after its current batch."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def notify(self) -> None:
        """A row was just committed: drain now rather than at the next tick."""
        self._wake.set()

    def drain_once(self) -> int:
        """Publish what is claimable now; returns how many the broker accepted.
        Stops at the first failure (the broker is down or the breaker open)
        and gives the rest back."""
        with self._busy:
            return self._drain()

    def _drain(self) -> int:
        db = connect(self.database)
        try:
            batch = claim(db)
            sent = 0
            for i, row in enumerate(batch):
                kwargs = {"outbox_id": outbox_id(self.service, row.id), "message": row.message,
                          "to": row.recipient, "ref": row.ref, "payload": row.payload}
                try:
                    self.breaker.call(self.publish, kwargs["outbox_id"], kwargs)
                except CircuitBreakerError:
                    release(db, [r.id for r in batch[i:]])
                    return sent
                except Exception as exc:  # noqa: BLE001 - any broker error: keep the row for later
                    log.warning("outbox relay: publishing %s failed: %s: %s", kwargs["outbox_id"], type(exc).__name__, exc)
                    release(db, [r.id for r in batch[i:]])
                    return sent
                mark_sent(db, row.id)
                sent += 1
            return sent
        finally:
            db.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.drain_once()
            except sqlite3.Error as exc:  # a locked database now is no reason to stop relaying
                log.warning("outbox relay: %s", exc)
                sent = 0
            if sent == 0:
                self._wake.wait(self.idle)
                self._wake.clear()


def init_app(app: Any) -> Relay | None:
    """Start the app's relay when BROKER_URL is set (none in tests that do not
    ask for one); the relay is `app.extensions["shopkit.relay"]`."""
    url = app.config.get("BROKER_URL")
    if not url:
        app.extensions["shopkit.relay"] = None
        return None
    board = app.extensions["shopkit.breakers"]
    timeout = float(app.config["BROKER_TIMEOUT"])
    relay = Relay(app.config["SERVICE_NAME"], app.config["DATABASE"], lambda: celery_publisher(url, timeout), board.add("redis"))
    app.extensions["shopkit.relay"] = relay
    relay.start()
    return relay


def notify(app: Any) -> None:
    """Wake the app's relay, if it has one, after a commit that added rows."""
    relay = app.extensions.get("shopkit.relay")
    if relay is not None:
        relay.notify()
