"""A real Prometheus for tests: found (or skipped on a laptop, failed on CI),
started on a free loopback port to scrape the agent's /_chaos/metrics every
250 ms, queried through its HTTP API, stopped by its pid."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


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


@contextmanager
def prometheus_server(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """`start(target_port)` -> the base URL of a Prometheus scraping that
    port's /_chaos/metrics every 250 ms; every one started is stopped by its pid."""
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

    try:
        yield start
    finally:
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
