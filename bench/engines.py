"""Which HTTP client engine the load generator should stand on: each
candidate sends the same open-loop schedule (request i due at start + i/rate)
to a bare Flask endpoint, and we compare CPU per request and schedule lag.

    python -m bench.engines [RATE] [SECONDS]

Each candidate runs in its own process, so CPU (getrusage of that process)
is the client's alone; the server is a separate gunicorn process.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time

CANDIDATES = ["aiohttp", "aiohttp+uvloop", "httpx", "threads+requests"]
if __import__("os").environ.get("CANDIDATES"):
    CANDIDATES = __import__("os").environ["CANDIDATES"].split(",")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _open_loop(send, rate: float, seconds: float) -> list[tuple[float, float, bool]]:
    """Start one task per due request; returns (due, started, ok) per request."""
    out: list[tuple[float, float, bool]] = []
    tasks = set()

    async def one(due: float) -> None:
        started = time.time()
        ok = await send()
        out.append((due, started, ok))

    start = time.time()
    n = int(rate * seconds)
    i = 0
    while i < n:
        due = start + i / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(max(delay, 0.001))  # timers count whole ms: shorter naps spin
        t = asyncio.ensure_future(one(due))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        i += 1
    await asyncio.gather(*tasks)
    return out


def run(candidate: str, url: str, rate: float, seconds: float) -> dict:
    # Imports are start-up, not the cost of a request: pay them before measuring.
    import importlib
    for name in {"aiohttp": ["aiohttp"], "aiohttp+uvloop": ["aiohttp", "uvloop"], "httpx": ["httpx"]}.get(candidate, ["requests"]):
        importlib.import_module(name)
    cpu0 = _cpu()
    if candidate.startswith("aiohttp"):
        import aiohttp

        async def main():
            conn = aiohttp.TCPConnector(limit=2000)
            async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=3)) as s:
                async def send():
                    try:
                        async with s.get(url) as r:
                            await r.read()
                            return r.status == 200
                    except Exception:  # noqa: BLE001
                        return False
                return await _open_loop(send, rate, seconds)
        if candidate.endswith("uvloop"):
            import uvloop
            res = uvloop.run(main())
        else:
            res = asyncio.run(main())
    elif candidate == "httpx":
        import httpx

        async def main():
            limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
            async with httpx.AsyncClient(limits=limits, timeout=3) as c:
                async def send():
                    try:
                        r = await c.get(url)
                        return r.status_code == 200
                    except Exception:  # noqa: BLE001
                        return False
                return await _open_loop(send, rate, seconds)
        res = asyncio.run(main())
    else:
        res = _threads(url, rate, seconds)
    cpu = _cpu() - cpu0
    lags = sorted(s - d for d, s, _ in res)
    return {"candidate": candidate, "rate": rate, "requests": len(res), "ok": sum(ok for *_, ok in res),
            "cpu_ms_per_request": 1000 * cpu / len(res), "lag_p50_ms": 1000 * lags[len(lags) // 2],
            "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99) - 1], "lag_max_ms": 1000 * lags[-1]}


def _threads(url: str, rate: float, seconds: float) -> list[tuple[float, float, bool]]:
    """The old engine's shape: a scheduler thread and a pool of requests sessions."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local = threading.local()
    out: list[tuple[float, float, bool]] = []

    def one(due: float) -> None:
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        started = time.time()
        try:
            ok = s.get(url, timeout=3).status_code == 200
        except requests.RequestException:
            ok = False
        out.append((due, started, ok))

    with ThreadPoolExecutor(max_workers=min(512, int(rate * 3) + 16)) as pool:
        start = time.time()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, due)
    return out


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(run(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))))
        return 0
    from bench.bare import served

    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    with served() as url:
        for candidate in CANDIDATES:
            out = subprocess.run([sys.executable, "-m", "bench.engines", "--one", candidate, url + "/ping", str(rate), str(seconds)],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out)
            print(f"{candidate:<18} {r['requests']:6d} req ({r['ok']} ok)  cpu {r['cpu_ms_per_request']:.3f} ms/req  "
                  f"lag p50 {r['lag_p50_ms']:.1f} ms  p99 {r['lag_p99_ms']:.1f} ms  max {r['lag_max_ms']:.1f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
