"""`make bench`: the figures the README claims, measured on the real system.

- how soon the toolkit sees a breaker transition (its `seen_at` minus the
  service's own timestamp), over repeated trips;
- how fast a route answers while its breaker is open, against the same
  route with breakers off under the same fault (the fail-fast ratio);
- how long the local stack takes to start, and each service's memory.

Run with the system down: it starts its own stack (with a short reset
timeout so trips repeat quickly) and stops it by pid at the end.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

from chaos.history.queries import percentile
from chaos.history import History, Transition
from chaos.engine.observe import BreakerWatcher
from chaos.runtime import TOXIPROXY, make_runtime
from chaos.spec import load_system
from chaos.clients.toxiproxy import Toxiproxy

ROOT = Path(__file__).resolve().parent.parent
TRIPS = 12
SAMPLES = 200


def main() -> int:
    system = load_system(ROOT / "system.yaml")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as state:
        _bench_mode(system, Path(state) / "trips", "on", rows, reset_timeout="0.5")
        on = _bench_mode(system, Path(state) / "on", "on", rows)
        off = _bench_mode(system, Path(state) / "off", "off", rows)
    rows.append(("fail-fast ratio (p99 off / p99 on while open, same 3 s latency)", f"{off / on:.0f}x"))
    width = max(len(k) for k, _ in rows)
    print(f"\n{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _bench_mode(system, state: Path, breakers: str, rows: list[tuple[str, str]], reset_timeout: str | None = None) -> float:
    """With a short reset timeout: trip the breaker again and again (visibility).
    Otherwise: the slow route with breakers on or off."""
    env = {"CHAOS_BREAKERS": breakers}
    if reset_timeout:
        env["SHOP_BREAKER_RESET_TIMEOUT"] = reset_timeout
    runtime = make_runtime("local", system, state, env)
    started = time.monotonic()
    runtime.up()
    rows.append((f"stack start, local (breakers {breakers})", f"{time.monotonic() - started:.2f} s"))
    try:
        if reset_timeout:
            rows.extend(_memory(runtime, system))
            rows.extend(_visibility(system, runtime))
            return 0.0
        return _slow_route(system, rows, breakers)
    finally:
        runtime.down()


def _memory(runtime, system) -> list[tuple[str, str]]:
    out = []
    for name in [TOXIPROXY, *system.services]:
        pid = runtime.pid(name)
        rss = _group_rss_kib(pid) if pid else 0
        out.append((f"memory (RSS) of {name}", f"{rss / 1024:.1f} MiB"))
    return out


def _group_rss_kib(pgid: int) -> int:
    from chaos.runtime.process import group_members

    total = 0
    for pid in group_members(pgid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _visibility(system, runtime) -> list[tuple[str, str]]:
    """Trip gateway->orders TRIPS times by taking its proxy down, and measure
    how long each transition took to reach the history."""
    history = History()
    watcher = BreakerWatcher(system, history)
    watcher.start()
    toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
    proxy = system.edges["gateway->orders"].proxy
    url = system.entrypoint.base_url + "/api/users/1/orders"
    session = requests.Session()
    fast: list[float] = []
    try:
        for _ in range(TRIPS):
            toxiproxy.set_enabled(proxy, False)
            for _ in range(12):  # enough failures to trip, then answers from the open breaker
                t = time.monotonic()
                r = session.get(url, timeout=5)
                if r.headers.get("X-Fallback-Reason") == "breaker-open":
                    fast.append(time.monotonic() - t)
            toxiproxy.set_enabled(proxy, True)
            time.sleep(0.6)  # past the reset timeout: the next call is the trial
            session.get(url, timeout=5)
        time.sleep(0.3)
    finally:
        toxiproxy.set_enabled(proxy, True)
        watcher.stop()
    lags = [t.seen_at - t.at for t in history.of(Transition)]
    if not lags:
        print("no transitions seen", file=sys.stderr)
        return [("breaker transitions seen", "0")]
    return [
        ("breaker transitions seen", f"{len(lags)} over {TRIPS} trips"),
        ("transition visible after: p50 / p99 / max", f"{_ms(statistics.median(lags))} / {_ms(percentile(lags, 99))} / {_ms(max(lags))}"),
        ("answer while open (no latency fault): p50 / p99", f"{_ms(statistics.median(fast))} / {_ms(percentile(fast, 99))}"),
    ]


def _slow_route(system, rows: list[tuple[str, str]], breakers: str) -> float:
    """p99 of GET /api/users/1/orders, one at a time, under 3 s latency on gateway->orders."""
    toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
    proxy = system.edges["gateway->orders"].proxy
    url = system.entrypoint.base_url + "/api/users/1/orders"
    session = requests.Session()
    toxiproxy.add_toxic(proxy, "bench-latency", "latency", {"latency": 3000})
    times = []
    try:
        if breakers == "on":  # trip it first: we measure answers while it is open
            for _ in range(20):
                if session.get(url, timeout=10).headers.get("X-Fallback-Reason") == "breaker-open":
                    break
        samples = SAMPLES if breakers == "on" else 10  # each takes the full read timeout when off
        deadline = time.monotonic() + 60
        while len(times) < samples and time.monotonic() < deadline:
            t = time.monotonic()
            session.get(url, timeout=10)
            times.append(time.monotonic() - t)
    finally:
        toxiproxy.remove_toxic(proxy, "bench-latency")
    p99 = percentile(times, 99)
    what = "while open" if breakers == "on" else "breakers off"
    rows.append((f"route needing orders, 3 s latency, {what}: p50 / p99", f"{_ms(statistics.median(times))} / {_ms(p99)} ({len(times)} requests)"))
    return p99


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
