"""A real Prometheus scrapes the agent's /_chaos/metrics from a real server:
the breaker's open state shows up in Prometheus's query API, and goes back.

Skips without a `prometheus` binary on a laptop; fails without it when
CI=true (`make setup-prometheus` installs Debian's package)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pybreaker
import pytest
from flask import Flask
from werkzeug.serving import make_server

from chaos.agent import ChaosAgent

from ..prometheus import prometheus_server, require_prometheus, wait_for


@pytest.fixture
def served():
    """A Flask app with the agent and a pybreaker breaker, in a real server on a free loopback port."""
    app = Flask("scraped")
    app.config["CHAOS_AGENT"] = "on"
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=3600, name="users")
    agent = ChaosAgent(app)
    agent.watch(breaker)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port, breaker
    finally:
        server.shutdown()
        server.server_close()
        agent.close()


@pytest.fixture
def prometheus(tmp_path: Path):
    """`start(target_port)` -> Prometheus's base URL; stopped by its pid afterwards."""
    with prometheus_server(tmp_path) as start:
        yield start


@pytest.mark.integration
def test_prometheus_sees_the_breaker_open_and_close(served, prometheus):
    port, breaker = served
    base = prometheus(port)
    is_open = 'chaos_circuitbreaker_state{state="open",name="users"}'
    wait_for(base, is_open, 0.0)
    wait_for(base, 'chaos_circuitbreaker_state{state="closed",name="users"}', 1.0)
    for _ in range(2):
        with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
            breaker.call(lambda: (_ for _ in ()).throw(ConnectionError("users down")))
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(lambda: "never runs")
    wait_for(base, is_open, 1.0)
    wait_for(base, 'chaos_circuitbreaker_not_permitted_calls_total{name="users"}', 1.0)
    breaker.close()
    wait_for(base, is_open, 0.0)
    wait_for(base, 'chaos_circuitbreaker_transitions_total{name="users",from_state="open",to_state="closed"}', 1.0)


def test_without_prometheus_a_laptop_skips_and_ci_fails(monkeypatch):
    monkeypatch.delenv("PROMETHEUS", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no prometheus found"):
        require_prometheus()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no prometheus"):
        require_prometheus()
