"""The live demo on the Docker runtime: the same page, the same buttons, the
services in containers. A kill turns gateway->orders open on the page within
a second of the breaker opening (and of the click, on the local runtime:
test_dashboard.py; here the engine's kill comes first), the revert starts
the container again and the edge closes, and leaving the demo removes every
container it started.

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
            # Epoch milliseconds, the page's clock (performance.timeOrigin + now) and the agents' alike.
            pressed = page.evaluate("performance.timeOrigin + window.dashboard.pressedAt['kill:orders']")
            changed = page.evaluate(f"performance.timeOrigin + window.dashboard.changedAt['{EDGE}']")
            opened = page.evaluate(f"Math.min(...window.dashboard.state.timeline.filter(e => e.kind === 'breaker' && "
                                   f"e.text.startsWith('{EDGE} ') && e.text.endsWith('-> open')).map(e => e.at * 1000))")
            # The page: the edge drawn open within a second of the breaker opening in the gateway.
            assert 0 <= (changed - opened) / 1000 < 1.0, f"the edge turned open {(changed - opened) / 1000:.2f} s after the breaker did"
            # The whole of it: the engine's kill (0.15 s on a quiet machine, more
            # beside `make test`'s unit lane: 1.5-1.7 s from the click in two CI
            # runs) and the gateway's failed calls to the dead container, then the page.
            assert 0 < (opened - pressed) / 1000 and (changed - pressed) / 1000 < 3.0, \
                f"the breaker opened {(opened - pressed) / 1000:.2f} s and the page showed it {(changed - pressed) / 1000:.2f} s after the click"
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
