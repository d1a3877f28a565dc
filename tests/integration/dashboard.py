"""Driving `chaos demo` from tests: start it as a user does, open its page,
read its charts and edges. Shared by the dashboard's browser tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.runtime import TOXIPROXY, Status, make_runtime
from chaos.spec import load_system
from chaos.spec.ports import shifted
from chaos.spec.system import System

from ..browser import Page, require_chromium
from .conftest import free_port

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


def start_demo(reports: Path, rate: int = 30, runtime: str = "local") -> Demo:
    """`chaos demo` on a free port and `runtime`, run folders into `reports`; returns once it prints its URL."""
    require_chromium()  # before starting anything: a laptop without Chromium skips here
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHAOS_PORT_OFFSET": str(OFFSET),
           "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "chaos", "--runtime", runtime, "demo", "--port", str(free_port()), "--rate", str(rate),
                             "--reports", str(reports)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    lines: list[str] = []
    deadline = time.monotonic() + 120  # the Docker runtime starts containers
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


def assert_nothing_running(sys_: System, runtime_kind: str = "local") -> None:
    runtime = make_runtime(runtime_kind, sys_, state_dir(sys_))
    left = [name for name in [TOXIPROXY, *sys_.services] if runtime.status(name) is not Status.STOPPED]
    assert not left, f"left running: {left}"


def open_dashboard(context, url: str) -> Page:  # type: ignore[no-untyped-def]
    """A page on the dashboard, once it is live and nothing an earlier test pressed is still on."""
    page = Page(context.new_page(), (url, "data:", "blob:", "about:"))
    page.page.goto(url)
    page.wait_until("window.dashboard.state")
    if page.evaluate("window.dashboard.state.active.length"):
        page.page.click("#revert-all")
        page.wait_until("!window.dashboard.state.active.length && window.dashboard.state.breakers === 'on'", 30)
    # Live: the event stream delivers, and every edge with a breaker shows its
    # state. notifications->redis has none (Celery consumes from Redis; the
    # worker's only breaker guards its SMTP edge): unknown is all it can show.
    page.wait_until("window.dashboard.state && window.dashboard.state.edges"
                    ".filter(e => e.name !== 'notifications->redis').every(e => e.state !== 'unknown')")
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
