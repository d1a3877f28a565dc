"""The live demo on the Docker runtime: the same page, the same buttons, the
services in containers. A kill turns gateway->orders open on the page within
a second, the revert starts the container again and the edge closes, and
leaving the demo removes every container it started.

Skips without Docker or Chromium on a laptop; fails without them when CI=true."""

from __future__ import annotations

import signal

from ..browser import chromium
from .dashboard import EDGE, assert_nothing_running, click, edge_state, open_dashboard, start_demo, system, wait_edge


def test_the_demo_drives_the_docker_runtime(docker_engine, tmp_path):
    sys_ = system()
    assert_nothing_running(sys_, "docker")
    demo = start_demo(tmp_path, runtime="docker")
    try:
        with chromium(width=1600, height=1000, bypass_csp=True) as context:
            page = open_dashboard(context, demo.url)
            assert page.evaluate("window.dashboard.info.runtime") == "docker"
            assert edge_state(page, EDGE) == "closed"
            click(page, "kill:orders")
            wait_edge(page, "open", timeout=5)
            pressed = page.evaluate("window.dashboard.pressedAt['kill:orders']")
            changed = page.evaluate(f"window.dashboard.changedAt['{EDGE}']")
            assert 0 < (changed - pressed) / 1000 < 1.0, f"the edge turned open {(changed - pressed) / 1000:.2f} s after the click"
            # Unit status comes on the slow poll (every second, after asking
            # Docker about six units): the page shows the stopped container
            # within a few polls, not at the instant the edge opened.
            page.wait_until("document.querySelector('[data-unit=\"orders\"]').dataset.status === 'stopped'", 6)
            click(page, "kill:orders")  # revert: the container starts again, the breaker closes via half-open
            wait_edge(page, "closed", timeout=30)
            assert page.errors == [] and page.offsite == [], page.errors + page.offsite
    finally:
        out = demo.stop(signal.SIGTERM, timeout=120)
    assert demo.proc.returncode == 0 and "demo over" in out, out
    assert_nothing_running(sys_, "docker")
