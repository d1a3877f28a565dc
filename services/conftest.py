"""Fixtures shared by every service's tests.

Tests import the services as top-level packages (`import orders`), as gunicorn
does when started from this folder, so this folder must be on sys.path.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the runner's SHOP_* and CHAOS_* variables (the chaos agent's
    settings, which it reads from the environment) out of every test's app."""
    for name in list(os.environ):
        if name.startswith(("SHOP_", "CHAOS_")):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _agent_replies_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client checks every reply of the chaos agent (under /_chaos)
    against the contract's JSON Schemas, as the toolkit's client does."""
    from flask import Flask

    from chaos.agent.testing import ContractClient

    monkeypatch.setattr(Flask, "test_client_class", ContractClient)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start WSGI apps on ephemeral 127.0.0.1 ports; `serve(app)` returns the base URL.

    Each server handles requests in threads, like gunicorn's gthread worker,
    and is shut down when the test ends.
    """
    servers = []

    def start(app: Callable) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


@pytest.fixture
def refused_url() -> str:
    """A 127.0.0.1 URL on which nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fake_app() -> Callable[..., Callable]:
    """`fake_app(status=200, body={}, delay=0.0)`: a WSGI app answering every
    request with that JSON body after sleeping `delay` seconds (a slow or
    failing downstream). `body` may be bytes to send a non-JSON answer."""

    def build(status: int = 200, body: Any = None, delay: float = 0.0) -> Callable:
        payload = body if isinstance(body, bytes) else json.dumps({} if body is None else body).encode()

        def app(environ: dict, start_response: Callable) -> list[bytes]:
            time.sleep(delay)
            start_response(f"{status} FAKE", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]

        return app

    return build
