"""The load generator as it was before issue 9 (a scheduler thread, a pool of
threads, one requests.Session per thread), kept only as the yardstick
`bench.load` measures the new engine against. Not used by the toolkit."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from chaos.engine.load import RETRY_AFTER, render
from chaos.history import History, Request
from chaos.spec.system import System


class ThreadsLoadGenerator:
    """Sends a weighted mix of routes at `rate` requests a second until stopped."""

    def __init__(self, system: System, mix: dict[str, int], rate: float, timeout: float, history: History, seed: int):
        self.system = system
        self.base_url = system.entrypoint.base_url
        self.routes = [r for r, w in mix.items() if w > 0]
        self.weights = [mix[r] for r in self.routes]
        self.rate = rate
        self.timeout = timeout
        self.history = history
        self.rng = random.Random(seed)
        # Enough workers that every request due within the client timeout can be in flight.
        self.pool = ThreadPoolExecutor(max_workers=min(512, int(rate * timeout) + 16), thread_name_prefix="load")
        self._stop = threading.Event()
        self._local = threading.local()
        self._thread = threading.Thread(target=self._schedule, name="load-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (at most the client timeout)."""
        self._stop.set()
        self._thread.join()
        self.pool.shutdown(wait=True)

    def _schedule(self) -> None:
        start = time.time()
        i = 0
        while not self._stop.is_set():
            due = start + i / self.rate
            delay = due - time.time()
            if delay > 0 and self._stop.wait(delay):
                return
            route = self.rng.choices(self.routes, self.weights)[0]
            path, body = render(self.system, self.system.routes[route], self.rng)
            self.pool.submit(self._send, route, path, body, due)
            i += 1

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, route: str, path: str, body: Any, due: float, attempt: int = 1) -> None:
        spec = self.system.routes[route]
        started = time.time()
        status = error = fallback = reason = write_id = None
        written = None
        try:
            resp = self._session().request(spec.method, self.base_url + path, json=body, timeout=self.timeout)
            status = resp.status_code
            fallback = resp.headers.get("X-Fallback")
            reason = resp.headers.get("X-Fallback-Reason")
            if spec.write and 200 <= status < 300:
                write_id = str(resp.json()[spec.write.id])
                written = {k: body[k] for k in spec.write.match if isinstance(body, dict) and k in body}
        except requests.Timeout:
            error = "timeout"
        except requests.ConnectionError:
            error = "connection"
        except (ValueError, KeyError, requests.RequestException) as e:
            error = type(e).__name__
        key = str(body[spec.write.key]) if spec.write and spec.write.key and isinstance(body, dict) and spec.write.key in body else None
        self.history.append(
            Request(route, spec.method, path, due, started, time.time(), status, error, fallback, reason, write_id, written, key, attempt)
        )
        # A failed write is retried once with the same idempotency key, as a
        # careful client would: the service must store it once, not twice.
        if key is not None and attempt == 1 and (status is None or status >= 500) and not self._stop.wait(RETRY_AFTER):
            self._send(route, path, body, time.time(), attempt=2)
