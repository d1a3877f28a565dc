"""`make bench-dashboard`: what the live demo's page costs, and how fast it shows a fault.

Starts `chaos demo` (on $CHAOS_PORT_OFFSET's ports, the dashboard on a free
port), then measures, on this machine:

- the demo process's CPU over SECONDS with no page open, then with PAGES pages
  open (the difference is what serving the page costs: the feed computes
  either way, the streams and the SVG only with viewers);
- headless Chromium's CPU over the same SECONDS (every process of the browser);
- the delay from pressing "kill orders" to the gateway->orders edge turning
  open on the page, TRIALS times (press, wait, revert, wait until closed).

    python -m bench.dashboard [--seconds 30] [--pages 1] [--trials 5]

Needs Chromium (Debian's /usr/bin/chromium or $CHROMIUM) and Playwright.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes so far, in seconds (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def chromium_pids() -> list[int]:
    """The browser this bench started and every process below it (renderers, GPU, zygotes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"chromium" in argv.split(b"\0")[0] and b"bench-dashboard" in argv:
                found.append(int(entry))
    return sorted({pid for main in found for pid in tree(main)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pages", type=int, default=1)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    demo = subprocess.Popen([sys.executable, "-m", "chaos", "demo", "--port", str(port), "--reports", "/tmp/bench-dashboard"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    for line in demo.stdout:
        if re.search(r"dashboard at http", line):
            break
    url = f"http://127.0.0.1:{port}/"
    try:
        time.sleep(5)
        # The demo process alone (load, watcher, feed, server); the services it
        # started are its children, measured apart as the stack.
        pids, stack = [demo.pid], [p for p in tree(demo.pid) if p != demo.pid]
        before, stack0 = cpu_seconds(pids), cpu_seconds(stack)
        time.sleep(args.seconds)
        idle = (cpu_seconds(pids) - before) / args.seconds
        stack_cpu = (cpu_seconds(stack) - stack0) / args.seconds
        with sync_playwright() as pw:
            binary = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
            browser = pw.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu", "--bench-dashboard"])
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
            pages = [context.new_page() for _ in range(args.pages)]
            for page in pages:
                page.goto(url)
                page.wait_for_function("window.dashboard && window.dashboard.state")
            time.sleep(3)
            browser_pids = chromium_pids()
            b0, d0 = cpu_seconds(browser_pids), cpu_seconds(pids)
            time.sleep(args.seconds)
            watched = (cpu_seconds(pids) - d0) / args.seconds
            browser_cpu = (cpu_seconds(browser_pids) - b0) / args.seconds
            delays = []
            page = pages[0]
            for _ in range(args.trials):
                page.click('[data-control="kill:orders"]')
                page.wait_for_function("document.querySelector('[data-edge=\"gateway->orders\"]').dataset.state === 'open'",
                                       timeout=10_000)
                delays.append(page.evaluate("window.dashboard.changedAt['gateway->orders'] - "
                                            "window.dashboard.pressedAt['kill:orders']"))
                page.click('[data-control="kill:orders"]')
                page.wait_for_function("document.querySelector('[data-edge=\"gateway->orders\"]').dataset.state === 'closed'",
                                       timeout=30_000)
                time.sleep(2)
            browser.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    cores = os.cpu_count()
    print(f"on {cores} cores, {args.seconds:g} s each:")
    print(f"  the stack serving 30 req/s (Toxiproxy, 4 services):              {stack_cpu:.1%} of a core")
    print(f"  chaos demo (load 30 req/s, watcher, feed, server), no page open: {idle:.1%} of a core")
    print(f"  chaos demo with {args.pages} page(s) open:                          {watched:.1%} of a core "
          f"(the page costs {watched - idle:+.1%})")
    print(f"  headless Chromium showing {args.pages} page(s):                       {browser_cpu:.1%} of a core")
    print(f"  kill orders -> edge open on the page, {args.trials} presses: median {statistics.median(delays):.0f} ms, "
          f"min {min(delays):.0f}, max {max(delays):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
