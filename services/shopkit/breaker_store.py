"""Where a breaker keeps its state: one process's memory, or Redis, shared by
every gunicorn worker of the service.

gunicorn's workers share no memory (benoitc/gunicorn#2216), so with
pybreaker's default memory storage `gunicorn -w 4` runs four breakers per
edge that trip one by one, each after its own share of failures.
SHOP_BREAKER_STORAGE=redis keeps each breaker's state, counters and
`opened_at` in Redis (SHOP_REDIS_URL), so the four are one.

`SharedStorage` is pybreaker's `CircuitRedisStorage` (its key layout and its
"only a later opened_at wins" rule) with what the shop needs on top, each a
pitfall of pybreaker's Redis storage:

- one namespace per breaker, `shop:<service>:<breaker>` (pybreaker #88:
  without one every breaker on a Redis shares one state);
- `opened_at` kept to the millisecond (pybreaker 1.4.1 stores whole seconds,
  PR #107, so a breaker half-opened up to a second early);
- `opened_at` only moves forward (pybreaker #24: a worker re-opening an
  already open breaker would push its half-open time back): pybreaker's own
  set-if-greater transaction, kept;
- one half-open trial for all the workers (`claim_trial`), where each
  worker would otherwise send its own;
- Redis down or slow: pybreaker logs a traceback and answers "closed, no
  failures", so a breaker could never open while its store is away. Here
  every operation also updates a local memory copy, and when Redis fails
  (short socket timeouts, no retries) the breaker goes on from that copy, in
  this worker alone. Back, Redis is again the truth.
- who finds out that Redis is back: a thread of the worker's own (`_probe`),
  which PINGs it every `RETRY_AFTER` seconds, not the next guarded call.
  When calls asked again themselves, a store that was slow rather than dead
  (Redis answering 1.5 s late) cost one request per worker each second a
  whole socket timeout (0.25 s): orders' place-order, which never needs
  Redis, ran at a p99 of 268-606 ms through such a fault (16 runs of
  `redis-slow` under the soak's hogs) and failed containment in 2 of them.
  Now a request pays that timeout once per worker, when the store goes
  away, and never while it stays away: 25-45 ms in 16 runs more, 16 passed.

Written by hand over pybreaker's class: pybreaker's storage swallows every
RedisError itself, so a fallback needs its operations, not a wrapper.
"""

from __future__ import annotations

import calendar
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

T = TypeVar("T")
STORAGES = ("memory", "redis")
RETRY_AFTER = 1.0  # seconds between a worker's PINGs to a store that failed, until one is answered
CONNECT_TIMEOUT = 0.1
SOCKET_TIMEOUT = 0.25
FRESH_PATIENCE = 3.0  # seconds a service starting anew tries to clear its breakers' old state in Redis
log = logging.getLogger(__name__)


def redis_client(url: str) -> redis.Redis:
    """A client for the breakers' Redis that gives up fast: short timeouts
    and no retries, since every guarded call waits on it."""
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT,
                                retry=Retry(NoBackoff(), 0), health_check_interval=0)


class SharedStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, namespaced, to the millisecond, with one
    trial at a time and a local fallback (see the module docstring)."""

    def __init__(self, client: redis.Redis, namespace: str, state: str = pybreaker.STATE_CLOSED,
                 clock: Callable[[], float] = time.monotonic, fresh: bool = False) -> None:
        self._local = pybreaker.CircuitMemoryStorage(state)
        self._clock = clock
        self._down = False  # Redis failed, and no PING has been answered since
        self._mutex = threading.Lock()
        self._probe: tuple[int, threading.Thread] | None = None  # (pid, thread) asking Redis whether it is back
        _STORAGES.add(self)
        self._seen = threading.local()  # per thread: whether its last state read found no failures counted
        super().__init__(state, client, namespace=namespace)
        if fresh:
            self.start_afresh()

    def start_afresh(self, patience: float = FRESH_PATIENCE) -> bool:
        """Forget what Redis holds for this breaker: closed, no failures, no
        trial. For a service started anew (see `make_storage`). Unlike a
        guarded call, a start can wait: one write of all of it, tried again
        for up to `patience` seconds (a store slow for a moment, on a busy
        machine, must not leave the breaker the last instance opened). False,
        logged, if Redis never answered: the local copy starts closed, and
        Redis' old state is taken up again when it answers."""
        cleared = self._clear_shared(patience)
        self._local.state = self._initial_state
        self._local._fail_counter = self._local._success_counter = 0  # noqa: SLF001 - pybreaker's own fields
        self._local.opened_at = None
        return cleared

    def _clear_shared(self, patience: float) -> bool:
        ns = self._namespace
        give_up = self._clock() + patience
        while True:
            try:
                with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(ns("opened_at"), ns("trial"))
                    pipe.set(ns("state"), self._initial_state)
                    pipe.set(ns("fail_counter"), 0)
                    pipe.set(ns("success_counter"), 0)
                    pipe.execute()
                return True
            except RedisError as e:
                if self._clock() >= give_up:
                    log.error("breaker store %s unreachable at start (%s): its old state may come back with it",
                              self._namespace_name, e)
                    return False
                time.sleep(0.1)

    # -- Redis, or the local copy ----------------------------------------------

    @property
    def shared(self) -> bool:
        """Whether operations go to Redis (False: this worker goes on alone
        until its probe finds Redis answering again)."""
        return not self._down

    def _try(self, op: Callable[[], T], local: Callable[[], T]) -> T:
        if self._down:
            self._probing()  # a forked worker inherits the flag, not the thread
            return local()
        try:
            return op()
        except RedisError as e:
            with self._mutex:
                if not self._down:
                    log.warning("breaker store %s unreachable (%s): this worker's breaker goes on alone",
                                self._namespace_name, e)
                self._down = True
            self._probing()
            return local()

    def _probing(self) -> None:
        """Make sure this process has a thread asking Redis whether it is back."""
        pid = os.getpid()
        probe = self._probe
        if probe is not None and probe[0] == pid and probe[1].is_alive():
            return
        with self._mutex:
            probe = self._probe
            if probe is not None and probe[0] == pid and probe[1].is_alive() or not self._down:
                return
            thread = threading.Thread(target=self._probe_until_back, name=f"breaker-store probe {self._namespace_name}",
                                      daemon=True)
            self._probe = (pid, thread)
            thread.start()

    def _probe_until_back(self) -> None:
        while True:
            time.sleep(RETRY_AFTER)
            try:
                self._redis.ping()
            except RedisError:
                continue
            with self._mutex:
                self._down = False
                log.warning("breaker store %s reachable again: state shared", self._namespace_name)
            return

    def _after_fork_in_child(self) -> None:
        self._mutex = threading.Lock()  # a probe may have held it at the fork

    def _initialize_redis_state(self, state: str) -> None:
        def init() -> None:
            self._redis.setnx(self._namespace("fail_counter"), 0)
            self._redis.setnx(self._namespace("success_counter"), 0)
            self._redis.setnx(self._namespace("state"), state)

        self._try(init, lambda: None)  # a store that is down at start must not stop the service

    # -- state and counters (each read also refreshes the local copy) -----------

    @property
    def state(self) -> str:
        return self.read_together()[0]

    def read_together(self) -> tuple[str, datetime | None, int]:
        """(state, opened_at, failure count) in one round trip, as one moment
        saw them; the local copy's when Redis is away. The state getter's
        read, and the chaos agent's for each view it publishes (it takes
        `read_together` where a storage has one: the three properties are a
        round trip each)."""

        def read() -> tuple[str, datetime | None, int]:
            # With opened_at in the same round trip: the local copy of an open
            # breaker must know when it opened, should Redis go away next.
            # And the failure count: pybreaker resets it after every success
            # (`reset_counter`), a write per guarded call that is nearly always
            # of a 0 already there; the read before it tells.
            raw, opened, failures = self._redis.mget(self._namespace("state"), self._namespace("opened_at"),
                                                     self._namespace("fail_counter"))
            if raw is None:  # Redis restarted empty: closed again, as pybreaker does
                self._initialize_redis_state(self._fallback_circuit_state)
                value = self._fallback_circuit_state
            else:
                value = raw.decode()
            count = int(failures or 0)
            self._local.state = value
            self._local._fail_counter = count  # noqa: SLF001 - pybreaker's own field
            self._seen.no_failures = count == 0
            when = None if opened is None else datetime.fromtimestamp(float(opened), UTC)
            if when is not None:
                self._local.opened_at = when
            return value, when, count

        return self._try(read, lambda: (self._local.state, self._local.opened_at,
                                        self._local._fail_counter))  # noqa: SLF001

    @state.setter
    def state(self, state: str) -> None:
        self._local.state = state
        self._try(lambda: self._redis.set(self._namespace("state"), str(state)), lambda: None)

    def _count(self, key: str, attr: str, op: str) -> None:
        def shared() -> None:
            if op == "incr":
                setattr(self._local, attr, int(self._redis.incr(self._namespace(key))))
            else:
                self._redis.set(self._namespace(key), 0)
                setattr(self._local, attr, 0)

        def local() -> None:
            setattr(self._local, attr, getattr(self._local, attr) + 1 if op == "incr" else 0)

        self._try(shared, local)

    def _read_count(self, key: str, attr: str) -> int:
        def shared() -> int:
            value = int(self._redis.get(self._namespace(key)) or 0)
            setattr(self._local, attr, value)
            return value

        return self._try(shared, lambda: getattr(self._local, attr))

    def increment_counter(self) -> None:
        self._seen.no_failures = False
        self._count("fail_counter", "_fail_counter", "incr")

    def reset_counter(self) -> None:
        """Zero the failure count, skipping the write when this thread's last
        state read (GuardedBreaker._record reads it just before a success
        is recorded) found it zero already: at 30 req/s that write was 81
        of the shop's 575 Redis commands a second. Once per read: a
        second reset (a transition to closed) writes. A failure another
        worker counts between the read and here stays counted, as if it came
        just after this success."""
        known_zero = getattr(self._seen, "no_failures", False) and self.shared
        self._seen.no_failures = False
        if not known_zero:
            self._count("fail_counter", "_fail_counter", "reset")

    def increment_success_counter(self) -> None:
        self._count("success_counter", "_success_counter", "incr")

    def reset_success_counter(self) -> None:
        self._count("success_counter", "_success_counter", "reset")

    @property
    def counter(self) -> int:
        return self._read_count("fail_counter", "_fail_counter")

    @property
    def success_counter(self) -> int:
        return self._read_count("success_counter", "_success_counter")

    # -- opened_at: milliseconds, and only forward -------------------------------

    @property
    def opened_at(self) -> datetime | None:
        def read() -> datetime | None:
            raw = self._redis.get(self._namespace("opened_at"))
            value = None if raw is None else datetime.fromtimestamp(float(raw), UTC)
            if value is not None:
                self._local.opened_at = value
            return value

        return self._try(read, lambda: self._local.opened_at)

    @opened_at.setter
    def opened_at(self, now: datetime) -> None:
        key = self._namespace("opened_at")
        stamp = calendar.timegm(now.utctimetuple()) + now.microsecond / 1e6
        local = self._local.opened_at
        if local is None or now > local:
            self._local.opened_at = now

        def set_if_later(pipe: Any) -> None:
            current = pipe.get(key)
            pipe.multi()
            if current is None or stamp > float(current):
                pipe.set(key, repr(stamp))

        self._try(lambda: self._redis.transaction(set_if_later, key), lambda: None)

    # -- one trial for every worker ----------------------------------------------

    def claim_trial(self, ttl: float) -> bool:
        """Whether this worker may send the half-open trial: True for the first
        to ask until `release_trial` or `ttl` seconds (a worker killed mid-trial
        must not keep the breaker half-open for ever). With Redis away: True
        (the worker's own breaker allows one trial of its own)."""
        key = self._namespace("trial")
        return bool(self._try(lambda: self._redis.set(key, os.getpid(), nx=True, px=max(1, int(ttl * 1000))),
                              lambda: True))

    def release_trial(self) -> None:
        """Let the next trial go (the current one has an outcome)."""
        self._try(lambda: self._redis.delete(self._namespace("trial")), lambda: None)


# Every SharedStorage of this process, for the fork hook below.
_STORAGES: weakref.WeakSet[SharedStorage] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for storage in list(_STORAGES):
        storage._after_fork_in_child()  # noqa: SLF001


os.register_at_fork(after_in_child=_after_fork_in_child)


def make_storage(config: Mapping[str, Any], breaker: str, client: redis.Redis | None,
                 fresh: bool = False) -> pybreaker.CircuitBreakerStorage:
    """The storage config BREAKER_STORAGE names for the breaker `breaker`:
    process memory, or Redis under `shop:<SERVICE_NAME>:<breaker>`. With
    `fresh`, a Redis breaker starts closed whatever Redis held: the service
    is starting anew (gunicorn's master builds the app once, before forking;
    a worker it replaces later is forked, not built, and shares what the
    others hold), and a service started anew starts with closed breakers,
    as one with its breakers in memory does. The shop runs one instance of
    each service; instances sharing one Redis would not want this."""
    if config["BREAKER_STORAGE"] == "memory" or client is None:
        return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    return SharedStorage(client, f"shop:{config['SERVICE_NAME']}:{breaker}", fresh=fresh)


def client_for(config: Mapping[str, Any]) -> redis.Redis | None:
    """The Redis client for config BREAKER_STORAGE=redis (REDIS_URL), else None.
    ValueError naming the key for a storage that is neither memory nor redis."""
    storage = config["BREAKER_STORAGE"]
    if storage not in STORAGES:
        raise ValueError(f"config BREAKER_STORAGE={storage!r}: expected one of {', '.join(STORAGES)}")
    return redis_client(config["REDIS_URL"]) if storage == "redis" else None
