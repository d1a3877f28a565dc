"""Fixtures of shopkit's tests: a real redis-server on a free port.

Needs `redis-server` (`make setup-redis`); without it the tests that use it
skip, and fail with CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.02)
    server.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function that returns a port nothing listens on now."""
    return _free_port


@pytest.fixture
def start_redis() -> Callable[[int], subprocess.Popen]:
    """A function that starts redis-server on a port and returns it ready."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing (make setup-redis)")
        pytest.skip("redis-server is missing (make setup-redis)")
    return _start_redis


@pytest.fixture
def redis_url(start_redis) -> Iterator[str]:
    """The URL of a redis-server of this test's own, stopped after it."""
    port = _free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait()
