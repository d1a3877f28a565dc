"""The agent's poller and gunicorn's preload_app: a fork waits for the
polling round in flight, so a lock a poll holds (a breaker's, a Redis
connection pool's) is never copied into a worker held by a thread the
worker does not have."""

from __future__ import annotations

import os
import threading
import time

from chaos.agent.extension import Poller


class SlowPoll:
    """Holds its lock for a while inside every poll, as a breaker read over the network does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = threading.Event()

    def poll(self) -> None:
        with self.lock:
            self.inside.set()
            time.sleep(0.3)


def test_a_fork_during_a_poll_gets_the_lock_free():
    item = SlowPoll()
    poller = Poller(0.01)
    poller.add(item)
    try:
        assert item.inside.wait(5)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: the lock must be free, as a worker's first call needs it
            os._exit(0 if item.lock.acquire(timeout=1) else 1)
        waited = time.monotonic() - started
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child inherited the poll's lock held"
        assert waited > 0.05  # the fork waited for the round to end
    finally:
        poller.stop()


def test_the_child_polls_again_on_its_own():
    item = SlowPoll()
    poller = Poller(0.01)
    poller.add(item)
    try:
        assert item.inside.wait(5)
        pid = os.fork()
        if pid == 0:
            item.inside.clear()
            poller.ensure_running()  # what the agent's publisher does in a new worker
            os._exit(0 if item.inside.wait(3) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        poller.stop()
