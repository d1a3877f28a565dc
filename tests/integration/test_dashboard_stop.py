"""Leaving `chaos demo` with its Stop button, on a stack that was up before
it: every fault the page pressed is reverted, no toxic is left, every
service runs and every breaker is closed; the session saved from the page is
a normal run folder with every button's action in its history.

In a file of its own: it brings the stack up itself, so it must not share
one with the page tests' demo (which starts and stops its own).
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from ..browser import chromium, require_chromium
from . import cleanliness
from .conftest import run_chaos
from .dashboard import assert_nothing_running, click, open_dashboard, start_demo, state_dir, system


def test_stop_button_reverts_every_fault_and_keeps_a_stack_it_found_running(tmp_path):
    """A stack that was up before the demo stays up, clean: the stop button
    reverts a kill, a pause, a latency and 500s, and no toxic is left."""
    sys_ = system()
    require_chromium()
    assert run_chaos("up").returncode == 0
    try:
        d = start_demo(tmp_path)
        with chromium(bypass_csp=True) as context:
            page = open_dashboard(context, d.url)
            for control in ("kill:users", "pause:inventory", "latency:orders->inventory", "http_error:orders",
                            "down:gateway->users"):
                click(page, control)
                page.wait_until(f"window.dashboard.state.active.some(a => a.id === '{control}')", 15)
            page.wait_until("window.dashboard.state.edges.find(e => e.name === 'orders->inventory').toxics.length > 0", 5)
            page.page.click("#save")
            page.wait_until("document.getElementById('message').textContent.startsWith('saved to')", 30)
            saved = Path(page.evaluate("document.getElementById('message').textContent").removeprefix("saved to ").strip())
            page.page.click("#stop")
            try:
                out, _ = d.proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                d.stop(signal.SIGKILL)
                pytest.fail("the stop button did not end the demo within 90 s")
        out = "\n".join(d.lines) + out
        assert d.proc.returncode == 0 and "demo over" in out, out
        assert cleanliness.problems(sys_, state_dir(sys_)) == []
        # The saved session is a normal run folder, every button's action in its history.
        run_dir = saved
        faults = [line for line in (run_dir / "history.jsonl").read_text().splitlines() if '"kind":"fault"' in line]
        assert len(faults) == 5 and all('"phase":"start"' in f for f in faults), faults
        assert (run_dir / "report.html").exists() and (run_dir / "junit.xml").exists()
    finally:
        run_chaos("down")
    assert_nothing_running(sys_)
