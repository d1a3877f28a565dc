"""The live demo dashboard, in the machine's Chromium, against the real stack.

`chaos demo` runs as a user runs it (a process of its own, on the offset in
$CHAOS_PORT_OFFSET, the dashboard on a free port) and Playwright presses its
buttons: a kill turns the gateway->orders edge open within a second on every
page open at once, and the latency chart drops to the fallback's speed;
breakers off turns user reads slow under the same latency that breakers on
contain; and leaving the demo leaves no toxic and nothing running.

Skips without Chromium on a laptop; fails without it when CI=true.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from chaos.runtime import TOXIPROXY, Status, make_runtime
from chaos.spec import load_system
from chaos.spec.ports import shifted
from chaos.spec.system import System

from ..browser import Page, chromium, require_chromium
from . import cleanliness
from .conftest import free_port, run_chaos

ROOT = Path(__file__).resolve().parents[2]
OFFSET = int(os.environ.get("CHAOS_PORT_OFFSET") or 0)
EDGE = "gateway->orders"


@dataclass
class Demo:
    proc: subprocess.Popen
    url: str
    system: System
    lines: list[str]

    def stop(self, how: int = signal.SIGTERM, timeout: float = 60) -> str:
        """Send `how` and wait for the demo to end; returns everything it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        out, _ = self.proc.communicate(timeout=timeout)
        return "\n".join(self.lines) + out


def system() -> System:
    loaded = load_system(ROOT / "system.yaml")
    return shifted(loaded, OFFSET) if OFFSET else loaded


def state_dir(sys_: System) -> Path:
    return ROOT / ".chaos" / (f"offset-{sys_.port_offset}" if sys_.port_offset else "")


def start_demo(reports: Path, rate: int = 30) -> Demo:
    """`chaos demo` on a free port, run folders into `reports`; returns once it prints its URL."""
    require_chromium()  # before starting anything: a laptop without Chromium skips here
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHAOS_PORT_OFFSET": str(OFFSET),
           "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "chaos", "demo", "--port", str(free_port()), "--rate", str(rate),
                             "--reports", str(reports)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        found = re.search(r"dashboard at (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return Demo(proc, found.group(1), system(), lines)
    proc.kill()
    pytest.fail("chaos demo printed no URL:\n" + "\n".join(lines) + (proc.stdout.read() or ""))


def assert_nothing_running(sys_: System) -> None:
    runtime = make_runtime("local", sys_, state_dir(sys_))
    left = [name for name in [TOXIPROXY, *sys_.services] if runtime.status(name) is not Status.STOPPED]
    assert not left, f"left running: {left}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """One demo for the page tests; SIGTERM at the end must stop everything it started."""
    sys_ = system()
    assert_nothing_running(sys_)  # the demo starts the stack, so it must stop it
    d = start_demo(tmp_path_factory.mktemp("demo-reports"))
    try:
        yield d
    finally:
        out = d.stop()
        assert d.proc.returncode == 0, out
        assert "demo over" in out, out
        assert_nothing_running(sys_)


def open_dashboard(context, url: str) -> Page:  # type: ignore[no-untyped-def]
    page = Page(context.new_page(), (url, "data:", "blob:", "about:"))
    page.page.goto(url)
    # Live: the event stream delivers, and every edge shows a state.
    page.wait_until("window.dashboard.state && window.dashboard.state.edges.every(e => e.state !== 'unknown')")
    return page


def edge_state(page: Page, edge: str = EDGE) -> str:
    return page.evaluate(f"document.querySelector('[data-edge=\"{edge}\"]').dataset.state")


def wait_edge(page: Page, state: str, timeout: float, edge: str = EDGE) -> None:
    page.wait_until(f"document.querySelector('[data-edge=\"{edge}\"]').dataset.state === '{state}'", timeout)


def route_p(page: Page, route: str, since: float, until: float | None = None, q: int = 1) -> list[float]:
    """The chart's points of `route` (q=1: p99, 0: p50, in ms) with t in [since, until)."""
    points = page.evaluate("window.dashboard.points")
    return [p["routes"][route][q] for p in points
            if p["t"] >= since and (until is None or p["t"] < until) and p["routes"][route][q] is not None]


def now_t(page: Page) -> float:
    """The page's clock in the chart's seconds (seconds since the demo started)."""
    return page.evaluate("window.dashboard.state.now - window.dashboard.state.started")


def click(page: Page, control: str) -> None:
    page.page.click(f"[data-control=\"{control}\"]")


def test_kill_orders_turns_the_edge_open_on_every_page_within_a_second(demo: Demo):
    with chromium(width=1600, height=1000, bypass_csp=True) as context:
        a, b = open_dashboard(context, demo.url), open_dashboard(context, demo.url)
        assert edge_state(a, EDGE) == edge_state(b, EDGE) == "closed"
        time.sleep(3)  # a baseline on the latency chart
        before = now_t(a)
        click(a, "kill:orders")
        wait_edge(a, "open", timeout=5)
        delay = a.evaluate(f"window.dashboard.changedAt['{EDGE}'] - window.dashboard.pressedAt['kill:orders']") / 1000
        wait_edge(b, "open", timeout=2)
        assert delay < 1.0, f"the edge turned open {delay:.2f} s after the click"
        assert a.evaluate("document.querySelector('[data-control=\"kill:orders\"]').getAttribute('aria-pressed')") == "true"
        assert b.evaluate("document.querySelector('[data-unit=\"orders\"]').dataset.status") in ("stopped", "running")
        # The latency chart drops: the routes that need only orders are answered by the fallback at once.
        time.sleep(3)
        opened = now_t(a) - 2.5
        drops = {}
        for route in ("user-orders", "place-order"):
            healthy, fallback = route_p(a, route, before - 3, before, q=0), route_p(a, route, opened, q=0)
            assert len(healthy) >= 4 and len(fallback) >= 4, (route, healthy, fallback)
            drops[route] = (statistics.median(healthy), statistics.median(fallback))
            assert drops[route][1] < drops[route][0], f"{route}: p50 {fallback} ms while open, {healthy} ms before"
        shares = a.evaluate("window.dashboard.points.slice(-3).map(p => p.fallback)")
        assert min(shares) > 0.5, f"fallback share {shares} while orders is dead"
        # Revert: orders starts again, the breaker closes via half-open (reset timeout 5 s).
        click(a, "kill:orders")
        wait_edge(a, "closed", timeout=15)
        wait_edge(b, "closed", timeout=2)
        seen = [a.evaluate("[...document.querySelectorAll('#timeline li.breaker')].map(li => li.textContent)"),
                b.evaluate("[...document.querySelectorAll('#timeline li.breaker')].map(li => li.textContent)")]
        assert seen[0] == seen[1], seen
        moves = [line.split(EDGE)[1].strip() for line in seen[0] if EDGE in line][::-1]
        assert moves[0] == "closed -> open" and moves[-1] == "half-open -> closed", moves
        assert a.errors == [] and b.errors == [], a.errors + b.errors
        assert a.offsite == [] and b.offsite == [], a.offsite + b.offsite
    print(f"\nbutton press -> edge open on the page: {delay * 1000:.0f} ms; median p50 before -> while open: "
          + ", ".join(f"{r} {h:.1f} -> {f:.1f} ms" for r, (h, f) in drops.items()))


def test_breakers_off_lets_a_slow_edge_slow_user_reads(demo: Demo):
    with chromium(width=1600, height=1000, bypass_csp=True) as context:
        page = open_dashboard(context, demo.url)
        # Breakers on: a 3 s latency on gateway->orders trips the breaker and user reads keep their speed.
        click(page, "latency:gateway->orders")
        wait_edge(page, "open", timeout=10)
        tripped = now_t(page)
        time.sleep(3)
        contained = route_p(page, "user", tripped)
        assert contained and max(contained) < 300, f"user p99 {contained} ms with breakers on"
        click(page, "latency:gateway->orders")
        page.wait_until("!window.dashboard.state.active.length", 10)
        # Breakers off: every service restarted; every edge drawn OFF.
        page.page.click("#breakers-toggle")
        page.wait_until("window.dashboard.state.breakers === 'off'", 30)
        for edge in ("gateway->users", EDGE, "orders->inventory"):
            wait_edge(page, "off", timeout=10, edge=edge)
        assert "OFF" in page.evaluate("document.getElementById('breakers-chip').textContent")
        click(page, "latency:gateway->orders")
        page.wait_until("window.dashboard.state.active.some(a => a.id === 'latency:gateway->orders')", 10)
        slowed = now_t(page)
        # The gateway's 8 threads fill with calls waiting out their 1 s timeout; user reads queue behind them.
        page.wait_until(f"window.dashboard.points.some(p => p.t > {slowed} && p.routes.user[1] > 900)", 20)
        click(page, "latency:gateway->orders")
        page.page.click("#breakers-toggle")
        page.wait_until("window.dashboard.state.breakers === 'on' && !window.dashboard.state.active.length", 30)
        for edge in ("gateway->users", EDGE, "orders->inventory"):
            wait_edge(page, "closed", timeout=10, edge=edge)
        assert page.errors == [], page.errors


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


def test_buttons_answer_only_the_page_itself(demo: Demo):
    """A POST without the page's header, from another origin, or to another
    Host name is refused (403) and changes nothing."""
    api = demo.url + "api/action"
    body = {"id": "kill:orders", "op": "apply"}
    refused = [
        requests.post(api, json=body, timeout=5),
        requests.post(api, json=body, headers={"X-Chaos-Demo": "1", "Origin": "http://evil.example"}, timeout=5),
        requests.post(api, json=body, headers={"X-Chaos-Demo": "1", "Host": "evil.example"}, timeout=5),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    state = requests.get(demo.url + "api/info", timeout=5).json()
    assert state["controls"] and "kill:orders" in [c["id"] for c in state["controls"]]
    runtime = make_runtime("local", demo.system, state_dir(demo.system))
    assert runtime.status("orders") is Status.RUNNING
