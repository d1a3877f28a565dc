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

Published is not delivered. Celery's Redis transport takes a task off the
queue (RPOP) and only then writes it to its "unacknowledged" hash, in two
round trips: a worker killed between the two loses that task for good, and
nobody would ever know (celery/celery#7950, celery/kombu#305; the toolkit's
soak found one such e-mail in `worker-killed` under a CPU hog). So the worker
leaves a *receipt* in the broker's Redis for every message it has sent
(`shop:receipt:<outbox id>`, kept a week), and the relay closes the loop:
a row published REPUBLISH_AFTER seconds ago without a receipt is published
again under the same outbox id (the worker's record keeps it from going out
twice), and a row with one is marked confirmed and never looked at again.
A receipt is looked for as soon as a row is published, not only once it is
due again: the broker's Redis keeps nothing on disk, so receipts not yet
read when it stops are gone, and every such row is published again after
the next start. Read late, that was every message of the last minute before
a stop (a whole 30 s chaos run's), published again in one burst a few
seconds into the next run; the notifications worker then spent seconds of
CPU finding them sent, right in the baseline a run's checks compare with.
REPUBLISH_AFTER (60 s) is well past the broker's own redelivery of a killed
worker's unacknowledged tasks (the visibility timeout, 20 s) and a task's
retry budget (12 s): a message merely slow is not published twice.

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
from typing import Any, TypeVar

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
    sent_at      TEXT,
    published_at REAL,
    confirmed_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent_at, id);
"""
# Columns added since the first outbox, for a database made before them.
COLUMNS = {"published_at": "REAL", "confirmed_at": "REAL"}

TASK = "notifications.send_email"
# How long a relay owns the rows it claimed: far above a publish's timeout.
LEASE = 30.0
BATCH = 50
# A published row without a delivery receipt after this long is published again.
REPUBLISH_AFTER = 60.0
# How often a relay looks for such rows, and how many at a time.
RECONCILE_EVERY = 5.0
RECONCILE_BATCH = 500
RECEIPT_PREFIX = "shop:receipt:"
RECEIPT_TTL = 7 * 24 * 3600


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
    return [_pending(r) for r in rows]


def _pending(row: sqlite3.Row) -> Pending:
    return Pending(row["id"], row["message"], row["recipient"], row["ref"], json.loads(row["payload"]))


def upgrade(db: sqlite3.Connection) -> None:
    """Add the columns a database made by an older outbox lacks."""
    have = {r[1] for r in db.execute("PRAGMA table_info(outbox)")}
    for name, kind in COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")


def mark_sent(db: sqlite3.Connection, row_id: int, now: float | None = None) -> None:
    """Record that the broker accepted row `row_id`."""
    now = time.time() if now is None else now
    db.execute("UPDATE outbox SET sent_at = ?, published_at = ?, claimed_till = NULL WHERE id = ?", (utc_now(), now, row_id))


def unconfirmed(db: sqlite3.Connection, limit: int = RECONCILE_BATCH) -> list[sqlite3.Row]:
    """Published rows with no receipt seen yet, oldest first."""
    return db.execute(
        "SELECT * FROM outbox WHERE confirmed_at IS NULL AND published_at IS NOT NULL ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()


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


def receipt_key(task_id: str) -> str:
    return RECEIPT_PREFIX + task_id


def redis_receipts(broker_url: str, timeout: float) -> Callable[[list[str]], list[bool]]:
    """A `receipts(outbox_ids)` that says, for each id, whether the worker left
    its delivery receipt in the broker's Redis (one MGET, `timeout` seconds)."""
    import redis  # only a service that relays needs it

    client = redis.Redis.from_url(broker_url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def receipts(ids: list[str]) -> list[bool]:
        return [value is not None for value in client.mget([receipt_key(i) for i in ids])] if ids else []

    return receipts


def leave_receipt(client: Any, task_id: str) -> None:
    """What the worker does once `task_id` is sent (or found sent): `client` is
    a redis-py client of the broker's Redis."""
    client.set(receipt_key(task_id), b"1", ex=RECEIPT_TTL)


T = TypeVar("T")


def _own(held: tuple[int, T] | None, make: Callable[[], T]) -> tuple[int, T]:
    """`held` if this process made it, else a new one: a connection made
    before a fork is not used after it."""
    if held is None or held[0] != os.getpid():
        return os.getpid(), make()
    return held


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
                 breaker: GuardedBreaker, idle: float = 0.5,
                 make_receipts: Callable[[], Callable[[list[str]], list[bool]]] | None = None,
                 republish_after: float = REPUBLISH_AFTER) -> None:
        self.service = service
        self.database = database
        self.make_publisher = make_publisher
        self.make_receipts = make_receipts
        self.republish_after = republish_after
        self.breaker = breaker
        self.idle = idle
        self._publisher: tuple[int, Callable[[str, dict[str, Any]], None]] | None = None
        self._receipts: tuple[int, Callable[[list[str]], list[bool]]] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fork_hooks = False

    def publish(self, task_id: str, kwargs: dict[str, Any]) -> None:
        """Publish one task with this process's own publisher."""
        self._publisher = _own(self._publisher, self.make_publisher)
        self._publisher[1](task_id, kwargs)

    def receipts(self, ids: list[str]) -> list[bool]:
        """Which of `ids` the worker has left a receipt for, with this process's
        own client (only called when the relay was given `make_receipts`)."""
        assert self.make_receipts is not None
        self._receipts = _own(self._receipts, self.make_receipts)
        return self._receipts[1](ids)

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

    def _kwargs(self, row: Pending) -> dict[str, Any]:
        return {"outbox_id": outbox_id(self.service, row.id), "message": row.message,
                "to": row.recipient, "ref": row.ref, "payload": row.payload}

    def reconcile_once(self, now: float | None = None) -> tuple[int, int]:
        """Close the loop on published rows: mark those with a receipt
        confirmed, and publish again those without one that were published
        over `republish_after` seconds ago.
        Returns (confirmed, published again). Several relays may run this at
        once: a row is published again by the one whose update claims it."""
        if self.make_receipts is None:
            return 0, 0
        now = time.time() if now is None else now
        with self._busy:
            db = connect(self.database)
            try:
                rows = unconfirmed(db)
                if not rows:
                    return 0, 0
                ids = [outbox_id(self.service, r["id"]) for r in rows]
                try:
                    seen = self.breaker.call(self.receipts, ids)
                except CircuitBreakerError:
                    return 0, 0
                except Exception as exc:  # noqa: BLE001 - the broker's Redis is away: look again later
                    log.warning("outbox relay: reading delivery receipts failed: %s: %s", type(exc).__name__, exc)
                    return 0, 0
                confirmed = [r["id"] for r, ok in zip(rows, seen) if ok]
                if confirmed:
                    # One write transaction, not one per row: every worker's
                    # relay reads receipts every few seconds, beside the
                    # requests' own writes to the same file.
                    with transaction(db):
                        db.executemany("UPDATE outbox SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL",
                                       [(now, i) for i in confirmed])
                again = 0
                for r, ok in zip(rows, seen):
                    if ok or r["published_at"] >= now - self.republish_after:
                        continue  # confirmed, or not yet due: the broker may still deliver it
                    claimed = db.execute("UPDATE outbox SET published_at = ? WHERE id = ? AND published_at = ?",
                                         (now, r["id"], r["published_at"]))
                    if claimed.rowcount != 1:
                        continue  # another relay took it
                    row = _pending(r)
                    try:
                        self.breaker.call(self.publish, outbox_id(self.service, row.id), self._kwargs(row))
                    except Exception as exc:  # noqa: BLE001 - CircuitBreakerError or a broker error: next round
                        db.execute("UPDATE outbox SET published_at = ? WHERE id = ?", (r["published_at"], r["id"]))
                        log.warning("outbox relay: publishing %s again failed: %s", outbox_id(self.service, row.id), type(exc).__name__)
                        break
                    log.warning("outbox relay: %s had no delivery receipt %.0f s after it was published: published it again",
                                outbox_id(self.service, row.id), now - r["published_at"])
                    again += 1
                return len(confirmed), again
            finally:
                db.close()

    def _drain(self) -> int:
        db = connect(self.database)
        try:
            batch = claim(db)
            sent = 0
            for i, row in enumerate(batch):
                kwargs = self._kwargs(row)
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
        next_reconcile = time.monotonic() + RECONCILE_EVERY
        while not self._stop.is_set():
            try:
                sent = self.drain_once()
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + RECONCILE_EVERY
                    self.reconcile_once()
            except sqlite3.Error as exc:  # a locked database now is no reason to stop relaying
                log.warning("outbox relay: %s", exc)
                sent = 0
            if sent == 0:
                self._wake.wait(self.idle)
                self._wake.clear()


def init_app(app: Any) -> Relay | None:
    """Start the app's relay when BROKER_URL is set (none in tests that do not
    ask for one); the relay is `app.extensions["shopkit.relay"]`."""
    db = connect(app.config["DATABASE"])
    try:
        upgrade(db)
    finally:
        db.close()
    url = app.config.get("BROKER_URL")
    if not url:
        app.extensions["shopkit.relay"] = None
        return None
    board = app.extensions["shopkit.breakers"]
    timeout = float(app.config["BROKER_TIMEOUT"])
    relay = Relay(app.config["SERVICE_NAME"], app.config["DATABASE"], lambda: celery_publisher(url, timeout), board.add("redis"),
                  make_receipts=lambda: redis_receipts(url, timeout), republish_after=float(app.config["OUTBOX_REPUBLISH_AFTER"]))
    app.extensions["shopkit.relay"] = relay
    relay.start()
    return relay


def notify(app: Any) -> None:
    """Wake the app's relay, if it has one, after a commit that added rows."""
    relay = app.extensions.get("shopkit.relay")
    if relay is not None:
        relay.notify()
