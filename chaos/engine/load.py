"""Steady load on the system's entrypoint, and the read-back of acknowledged writes.

Requests go out on a fixed schedule (open loop): request i is due at
start + i/rate whether or not earlier ones have answered, so a slow system
cannot slow the load down and hide its own latency (coordinated omission).
Every request is recorded in the history with its due, start and end times.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from chaos.history import History, ReadBack, Request
from chaos.spec.system import RouteSpec, System

_VAR = re.compile(r"{(\w+)}")
RETRY_AFTER = 0.5  # seconds before a failed write is retried


class LoadGenerator:
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
            # The agent's X-Fallback headers, or the system file's own rule for this route.
            fallback, reason = self.system.fallback_rule(route).match(status, resp.headers, resp.json)
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


def render(system: System, route: RouteSpec, rng: random.Random) -> tuple[str, Any]:
    """The route's path and JSON body with its {variables} filled in. A string
    that is exactly one placeholder takes the variable's own type (an int stays an int)."""
    values: dict[str, Any] = {}

    def value(name: str) -> Any:
        if name not in values:
            if name == "uuid":
                values[name] = uuid.uuid4().hex  # unique across runs: the services keep their data
            else:
                var = system.spec.variables[name]
                values[name] = rng.randint(*var.range) if var.range else rng.choice(var.choice)
        return values[name]

    def fill(obj: Any) -> Any:
        if isinstance(obj, str):
            whole = _VAR.fullmatch(obj)
            if whole:
                return value(whole.group(1))
            return _VAR.sub(lambda m: str(value(m.group(1))), obj)
        if isinstance(obj, dict):
            return {k: fill(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v) for v in obj]
        return obj

    return fill(route.path), fill(route.json_body)


def read_back(system: System, history: History, attempts: int = 3) -> int:
    """Read every acknowledged write back through the entrypoint and record
    whether it came back as written. Returns how many were read."""
    # One read per write: a retried write acknowledged twice has one id.
    acked = list({r.write_id: r for r in history.of(Request) if r.write_id is not None}.values())
    session = requests.Session()
    base = system.entrypoint.base_url

    def one(req: Request) -> None:
        spec = system.routes[req.route].write
        assert spec is not None
        path = spec.read.replace("{id}", req.write_id or "")
        status, detail = None, ""
        for attempt in range(attempts):
            try:
                resp = session.get(base + path, timeout=5)
                status = resp.status_code
                if status == 200:
                    got = resp.json()
                    wrong = {k: (v, got.get(k)) for k, v in (req.write_body or {}).items() if got.get(k) != v}
                    ok = not wrong
                    detail = f"{req.write_id}: ok" if ok else f"{req.write_id}: differs {json.dumps(wrong)}"
                    history.append(ReadBack(req.route, req.write_id or "", status, ok, detail, time.time()))
                    return
                detail = f"{req.write_id}: GET {path} -> {status}"
                if status == 404:
                    break  # a definite answer: it is not there
            except requests.RequestException as e:
                detail = f"{req.write_id}: GET {path} -> {type(e).__name__}"
            time.sleep(0.2 * (attempt + 1))
        history.append(ReadBack(req.route, req.write_id or "", status, False, detail, time.time()))

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="readback") as pool:
        list(pool.map(one, acked))
    return len(acked)
