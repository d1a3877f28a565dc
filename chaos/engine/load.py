"""Steady load on the system's entrypoint.

Requests go out on a fixed schedule (open loop): request i is due at
start + i/rate whether or not earlier ones have answered, so a slow system
cannot slow the load down and hide its own latency (coordinated omission).
Every request is recorded in the history with its due, start and end times.

The engine is aiohttp on one uvloop event loop in one thread: `bench.engines`
measured it at about 0.22 ms of CPU a request, keeping time (lag p99 about
1 ms) at 1000 req/s on a 2-core machine, where the old threads + requests
engine spent 1.1 ms a request and fell seconds behind; httpx's async client
spent 8 ms. One pooled, keep-alive session, as a real client keeps.

The generator is the instrument, and it shares the machine with what it
measures: starved of CPU, it sends late and times its own waiting as the
system's latency (a soak with a CPU hog and other stacks running, load
average 18, saw lag p99 of 100-250 ms at 30 req/s and had to say "unknown").
So its thread asks the kernel for a higher priority (nice LOAD_NICE) when it
may (root, or CAP_SYS_NICE), and carries on as it is when it may not. Only
this thread: the services keep theirs, and at 30 req/s it uses about 1% of
a core, nothing they need. `chaos run` goes further and runs it in a process
and session of its own (chaos.engine.load_process).

The generator also proves what it did: when it stops it records a
`LoadDelivery` (asked rate, delivered rate, schedule lag), and checks that
judge latency or success rates say "unknown" when load was not delivered
(see chaos.checks). Concurrency is bounded, but never silently: a request
due while `cap` are in flight is not sent, and counted as not sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import resource
import threading
import time
import uuid
from typing import Any

import aiohttp
import uvloop

from chaos.history import History, LoadDelivery, LoadSending, Request
from chaos.history.queries import delivery_of, percentile
from chaos.spec.system import RouteSpec, System

_VAR = re.compile(r"{(\w+)}")
RETRY_AFTER = 0.5  # seconds before a failed write is retried
# Sent with every request: when the generator stops waiting for it (seconds
# since the epoch), for services that skip work nobody waits for (the shop:
# services/shopkit/deadline.py; docs/own-services.md).
DEADLINE_HEADER = "X-Request-Deadline"
DEFAULT_MAX_LAG = 0.1  # seconds of schedule lag p99 beyond which load was not delivered
# The highest rate `make bench-load` measured this engine keeping time at (lag
# p99 2 ms at 1500 req/s, on a 2-core machine, alone against a bare endpoint);
# named in the verdicts when a scenario asks for more.
KEEPS_TIME_UP_TO = 1500.0

LOAD_NICE = -5
SENDING_EVERY = 0.5  # seconds between the LoadSending records of a running load


def _prefer_this_thread() -> None:
    """Raise the calling thread's scheduling priority to LOAD_NICE if allowed
    (on Linux a thread is a task of its own, so the rest of the process and
    every child it starts keep theirs)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOAD_NICE)
    except (AttributeError, OSError):  # not Linux, or not permitted: no better than before
        pass


class LoadGenerator:
    """Sends a weighted mix of routes at `rate` requests a second until stopped."""

    def __init__(self, system: System, mix: dict[str, int], rate: float, timeout: float, history: History, seed: int,
                 max_lag: float = DEFAULT_MAX_LAG):
        self.system = system
        self.base_url = system.entrypoint.base_url
        self.routes = [r for r, w in mix.items() if w > 0]
        self.weights = [mix[r] for r in self.routes]
        self.rate = rate
        self.timeout = timeout
        self.history = history
        self.max_lag = max_lag
        self.rng = random.Random(seed)
        # Room for every request (and write retry) due within the client
        # timeout to be in flight: a system that answers, even slowly, never
        # meets the cap; only a generator that cannot keep up does.
        self.cap = _fd_budget(int(rate * (timeout + RETRY_AFTER)) + 64)
        self.delivery: LoadDelivery | None = None
        self._in_flight = 0
        self._sent = 0
        self._not_sent = 0
        self._lags: list[float] = []
        self._lags_told = 0  # how many of _lags the last LoadSending covered
        self._started_at = 0.0
        self._stopped_at = 0.0  # when the schedule stopped: the end of the delivery window
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> None:
        """Start sending; raises what stopped the engine if it died on the way."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the load generator could not start: {self._error}") from self._error

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (at most the client
        timeout), then record what was delivered. Safe to call twice."""
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop closed in between: it has stopped already
        if self._thread.ident is not None:
            self._thread.join()
        if self.delivery is None and self._started_at:
            self.delivery = self._delivery(time.time())
            self.history.append(self.delivery)

    def _run(self) -> None:
        _prefer_this_thread()
        try:
            uvloop.run(self._main())
        except BaseException as e:  # noqa: BLE001 - handed to start() or stop(), whichever is waiting
            self._error = e
        finally:
            self._ready.set()  # never leave start() waiting on a loop that died

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=self.cap, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._started_at = time.time()
            self._ready.set()
            await self._schedule(session, tasks)
            self._stopped_at = time.time()
            if tasks:  # every request ends within its timeout; the slack is for the retry's wait
                _, late = await asyncio.wait(tasks, timeout=self.timeout + RETRY_AFTER + 1.0)
                for task in late:
                    task.cancel()

    async def _schedule(self, session: aiohttp.ClientSession, tasks: set[asyncio.Task[None]]) -> None:
        """Issue request i at start + i/rate until stopped. Timer callbacks, not
        a coroutine that sleeps: at 400 req/s each request is its own wake-up,
        and a callback costs a third less CPU than a sleep's future (measured:
        0.044 against 0.064 ms per request for the schedule alone)."""
        assert self._stopping is not None
        loop = asyncio.get_running_loop()
        start = self._started_at
        i = 0

        def tick() -> None:
            nonlocal i
            assert self._stopping is not None
            if self._stopping.is_set():
                return
            now = time.time()
            for _ in range(32):  # behind schedule: let the ones issued start before issuing more
                due = start + i / self.rate
                if due > now:
                    # The loop's timers count whole milliseconds: a shorter
                    # wait would fire at once and the loop would spin.
                    loop.call_later(max(due - now, 0.001), tick)
                    return
                # The route and body are drawn even for a request the cap refuses,
                # so one seed gives one sequence whatever the machine's speed.
                route = self.rng.choices(self.routes, self.weights)[0]
                path, body = render(self.system, self.system.routes[route], self.rng)
                i += 1
                if self._in_flight >= self.cap:
                    self._not_sent += 1
                    continue
                self._in_flight += 1
                task = asyncio.ensure_future(self._send(session, route, path, body, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            loop.call_soon(tick)

        def sending() -> None:
            assert self._stopping is not None
            if not self._stopping.is_set():
                self._record_sending()
                loop.call_later(SENDING_EVERY, sending)

        tick()
        loop.call_later(SENDING_EVERY, sending)
        await self._stopping.wait()

    def _record_sending(self) -> None:
        """What was sent so far, before any of it answered (LoadSending)."""
        lags = self._lags[self._lags_told:]
        self._lags_told += len(lags)
        self.history.append(LoadSending(time.time(), self._sent, self._not_sent, self._in_flight,
                                        round(percentile(lags, 99), 6) if lags else None))

    async def _send(self, session: aiohttp.ClientSession, route: str, path: str, body: Any, due: float, attempt: int = 1) -> None:
        try:
            await self._one(session, route, path, body, due, attempt)
        finally:
            if attempt == 1:
                self._in_flight -= 1

    async def _one(self, session: aiohttp.ClientSession, route: str, path: str, body: Any, due: float, attempt: int) -> None:
        spec = self.system.routes[route]
        started = time.time()
        if attempt == 1:
            self._sent += 1
            self._lags.append(started - due)
        status = error = fallback = reason = write_id = None
        written = None
        try:
            # When this client stops waiting, so that a service can skip the
            # work once nobody waits for it (services/shopkit/deadline.py).
            deadline = {DEADLINE_HEADER: f"{started + self.timeout:.3f}"}
            async with session.request(spec.method, self.base_url + path, json=body, headers=deadline) as resp:
                data = await resp.read()  # always: a connection goes back to the pool only once its answer is read
                status = resp.status
                # The agent's X-Fallback headers, or the system file's own rule for this route.
                fallback, reason = self.system.fallback_rule(route).match(status, resp.headers, lambda: json.loads(data))
                if spec.write and 200 <= status < 300:
                    write_id = str(json.loads(data)[spec.write.id])
                    written = {k: body[k] for k in spec.write.match if isinstance(body, dict) and k in body}
        except asyncio.TimeoutError:  # aiohttp's own timeouts are TimeoutErrors too
            error = "timeout"
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            # Refused, reset, or cut off mid-answer: what requests called a ConnectionError.
            error = "connection"
        except Exception as e:  # noqa: BLE001 - a bad answer, or a bug of ours: recorded, never a request that vanishes
            error = type(e).__name__
        key = str(body[spec.write.key]) if spec.write and spec.write.key and isinstance(body, dict) and spec.write.key in body else None
        self.history.append(
            Request(route, spec.method, path, due, started, time.time(), status, error, fallback, reason, write_id, written, key, attempt)
        )
        # A failed write is retried once with the same idempotency key, as a
        # careful client would: the service must store it once, not twice.
        if key is not None and attempt == 1 and (status is None or status >= 500):
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), RETRY_AFTER)
                return  # load stopped during the wait: no retry, as before
            except asyncio.TimeoutError:
                await self._one(session, route, path, body, time.time(), attempt=2)

    def _delivery(self, now: float) -> LoadDelivery:
        return delivery_of(self.rate, (self._stopped_at or now) - self._started_at, self._sent, self._not_sent,
                           self._lags, self.max_lag, self.cap, KEEPS_TIME_UP_TO, now)


def _fd_budget(wanted: int) -> int:
    """How many connections the generator may hold: `wanted`, unless the open
    file limit (raised to its hard limit first) leaves less."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(16, min(wanted, soft - 256))


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
