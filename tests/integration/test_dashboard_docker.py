"""The live demo on the Docker runtime: the same page, the same buttons, the
services in containers. A kill turns gateway->orders open on the page within
2.5 s of the breaker opening (a second on the local runtime:
test_dashboard.py; see the bound below), the revert starts
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
            computed = page.evaluate(f"window.dashboard.changedSnapshot['{EDGE}'] * 1000")
            # The page: the edge drawn open soon after the breaker opened in the
            # gateway. Within a second on the local runtime (test_dashboard.py);
            # here the demo's watcher got the gateway agent's answer 0.03-1.9 s
            # after the transition in five runs on a quiet machine (the page then
            # drew it within 10 ms), where a watcher outside the demo, against
            # the same containers and the same kill, got it within 0.15 s. Not
            # explained yet: the bound holds what was measured, and the message
            # says which side was late.
            assert 0 <= (changed - opened) / 1000 < 2.5, (
                f"the edge turned open {(changed - opened) / 1000:.2f} s after the breaker did: the demo's snapshot showed it "
                f"{(computed - opened) / 1000:.2f} s after, the page drew it {(changed - computed) / 1000:.2f} s after that")
            # The whole of it: the engine's kill (0.15 s on a quiet machine, more
            # beside `make test`'s unit lane: 1.5-1.7 s from the click in two CI
            # runs) and the gateway's failed calls to the dead container, then the page.
            assert 0 < (opened - pressed) / 1000 and (changed - pressed) / 1000 < 5.0, \
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
