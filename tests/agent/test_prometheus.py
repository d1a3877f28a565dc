"""A real Prometheus scrapes the agent's /_chaos/metrics from a real server:
the breaker's open state shows up in Prometheus's query API, and goes back.

Skips without a `prometheus` binary on a laptop; fails without it when
CI=true (`make setup-prometheus` installs Debian's package)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pybreaker
import pytest
from flask import Flask
from werkzeug.serving import make_server

from chaos.agent import ChaosAgent


def require_prometheus() -> str:
    """The prometheus binary; skips the test without one, or fails it on CI."""
    found = os.environ.get("PROMETHEUS") or shutil.which("prometheus")
    if found:
        return found
    how = "apt-get install -y prometheus (or `make setup-prometheus`), or set PROMETHEUS=/path/to/prometheus"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and no prometheus found: the metrics scrape test must run on CI; {how}")
    pytest.skip(f"no prometheus found; {how}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    binary = require_prometheus()
    procs: list[subprocess.Popen] = []

    def start(target: int) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 250ms\n  evaluation_interval: 250ms\n"
            "scrape_configs:\n  - job_name: agent\n    scrape_interval: 250ms\n    scrape_timeout: 200ms\n"
            f"    metrics_path: /_chaos/metrics\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        )
        log = (tmp_path / "prometheus.log").open("w")
        procs.append(subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        ))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(base: str, promql: str) -> float | None:
    """The value of an instant query's single result, None when none (or Prometheus is not up yet)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.load(response)
    except OSError:
        return None
    results = body["data"]["result"]
    return float(results[0]["value"][1]) if results else None


def wait_for(base: str, promql: str, value: float, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = query(base, promql)
        if seen == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{promql} was {seen}, not {value}, after {timeout}s")


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
