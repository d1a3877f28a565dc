"""Delivery through a real SMTP server (the mailer's aiosmtpd handler): once
per outbox id, retried with backoff, refused fast by an open breaker."""

from __future__ import annotations

import socket
import time

import pytest
from aiosmtpd.controller import Controller

from mailer import store
from notifications.delivery import Delivery, SendFailed
from shopkit.breakers import GuardedBreaker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sink(tmp_path):
    path = str(tmp_path / "mailer.sqlite3")
    store.init(path)
    controller = Controller(store.Handler(path), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield path, controller.port
    controller.stop()


def make(tmp_path, port: int, fail_max: int = 3) -> Delivery:
    breaker = GuardedBreaker(name="mailer", fail_max=fail_max, reset_timeout=60)
    return Delivery(str(tmp_path / "sent.sqlite3"), breaker, host="127.0.0.1", port=port, timeout=1.0,
                    sender="shop@example.test")


MESSAGE = {"outbox_id": "users-7", "message": "welcome", "to": "ann@example.test", "ref": "ann@example.test",
           "payload": {"user_id": 7}}


def test_a_second_delivery_of_one_outbox_id_sends_nothing(tmp_path, sink) -> None:
    path, port = sink
    delivery = make(tmp_path, port)
    assert delivery.send(**MESSAGE) is True
    assert delivery.send(**MESSAGE) is False
    # A restarted worker reads the same record.
    assert make(tmp_path, port).send(**MESSAGE) is False
    (got,) = store.listing(path)
    assert (got["outbox_id"], got["message"], got["key"], got["to"]) == ("users-7", "welcome", "ann@example.test",
                                                                        ["ann@example.test"])


def test_the_sink_lists_a_doubled_id_twice(tmp_path, sink) -> None:
    path, port = sink
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    make(tmp_path / "a", port).send(**MESSAGE)
    make(tmp_path / "b", port).send(**MESSAGE)  # a second worker without the first one's record
    assert [m["outbox_id"] for m in store.listing(path, "ann@example.test")] == ["users-7", "users-7"]


def test_a_stopping_worker_stops_retrying_at_once(tmp_path) -> None:
    import threading

    delivery = make(tmp_path, free_port(), fail_max=100)
    stopping = threading.Event()
    began = time.monotonic()  # before the timer starts: it cannot fire sooner than 0.3 s after this
    threading.Timer(0.3, stopping.set).start()
    with pytest.raises(SendFailed):
        delivery.send_with_retries(0.25, 4.0, 12.0, stopping=stopping, **MESSAGE)
    # Without the stop: 0.25 + 0.5 + 1 + 2 + 4 + 4 s of waits within the 12 s budget.
    assert 0.3 <= time.monotonic() - began < 1.0


def test_an_unreachable_sink_opens_the_breaker_and_retries_back_off(tmp_path) -> None:
    delivery = make(tmp_path, free_port(), fail_max=2)
    began = time.monotonic()
    with pytest.raises(SendFailed):
        delivery.send_with_retries(0.05, 0.2, 0.5, **MESSAGE)
    # Waits of 0.05, 0.1 and 0.2 s; the next 0.2 s would pass the 0.5 s budget.
    assert 0.3 <= time.monotonic() - began < 1.5
    assert delivery.breaker.current_state == "open"
    began = time.monotonic()
    with pytest.raises(SendFailed, match="breaker-open"):
        delivery.send(**MESSAGE)
    assert time.monotonic() - began < 0.25  # refused at once: no connection tried, no back-off waited
