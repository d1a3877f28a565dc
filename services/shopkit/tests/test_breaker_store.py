"""Breakers whose state four gunicorn workers share through a real Redis
(shopkit.breaker_store), and pybreaker's Redis pitfalls, each shown not to
bite. Two GuardedBreakers on one namespace stand for two workers: what one
writes the other reads, exactly as two processes would.

Needs `redis-server` (`make setup-redis`, fixtures in conftest.py); without it these tests skip, and
fail with CI=true.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

import pybreaker
import pytest
import redis

from chaos.agent.adapters import adapt
from shopkit import breaker_store
from shopkit.breaker_store import SharedStorage, redis_client
from shopkit.breakers import CircuitBreakerError, GuardedBreaker


class Boom(Exception):
    pass


def fail() -> None:
    raise Boom()


def ok() -> str:
    return "ok"


def worker(url: str, name: str = "orders", fail_max: int = 3, reset_timeout: float = 30.0,
           service: str = "gateway") -> GuardedBreaker:
    """One worker's breaker `name` of `service`, stored in the Redis at `url`."""
    config = {"BREAKER_STORAGE": "redis", "SERVICE_NAME": service}
    return GuardedBreaker(name=name, fail_max=fail_max, reset_timeout=reset_timeout, throw_new_error_on_trip=False,
                          state_storage=breaker_store.make_storage(config, name, redis_client(url)))


def trip(breaker: GuardedBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(Boom):
            breaker.call(fail)


def test_one_worker_opening_opens_every_worker(redis_url):
    a, b = worker(redis_url), worker(redis_url)
    trip(a)
    assert a.current_state == b.current_state == "open"
    with pytest.raises(CircuitBreakerError):
        b.call(ok)  # b never saw a failure of its own


def test_failures_count_across_workers(redis_url):
    a, b = worker(redis_url, fail_max=4), worker(redis_url, fail_max=4)
    for breaker in (a, b, a):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert b.current_state == "closed" and b.fail_counter == 3
    with pytest.raises(Boom):
        b.call(fail)
    assert a.current_state == "open"  # the fourth failure in all, in either worker


def test_a_success_resets_failures_counted_anywhere_and_writes_nothing_when_there_were_none(redis_url):
    """pybreaker zeroes the failure count after every success, one write per
    guarded call; the state read before it brings the count back, so a
    success over a count of 0 writes nothing, and one over a count that any
    worker left above 0 still zeroes it."""
    a, b = worker(redis_url), worker(redis_url)
    with pytest.raises(Boom):
        a.call(fail)
    assert b.call(ok) == "ok"  # b's own state read sees a's failure
    assert a.fail_counter == 0 and b.fail_counter == 0
    plain = redis.Redis.from_url(redis_url)
    writes = lambda: sum(plain.info("commandstats").get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("set", "incr"))  # noqa: E731
    before = writes()
    for _ in range(20):
        assert b.call(ok) == "ok"
    assert writes() == before
    with pytest.raises(Boom):
        b.call(fail)
    assert a.call(ok) == "ok" and b.fail_counter == 0


def test_each_breaker_has_its_own_namespace(redis_url):
    """pybreaker #88: without a namespace every breaker on one Redis shares one state."""
    orders, users = worker(redis_url, "orders"), worker(redis_url, "users")
    other_service = worker(redis_url, "orders", service="orders")
    trip(orders)
    assert (orders.current_state, users.current_state, other_service.current_state) == ("open", "closed", "closed")
    keys = {k.decode() for k in redis.Redis.from_url(redis_url).keys("*")}
    assert "shop:gateway:orders:pybreaker:state" in keys and "shop:gateway:users:pybreaker:state" in keys
    assert not any(k.startswith("pybreaker:") for k in keys)  # nothing under pybreaker's shared default


def test_opened_at_keeps_milliseconds(redis_url):
    """pybreaker PR #107: 1.4.1 stores whole seconds, so a breaker could
    half-open up to a second before its reset timeout. Shown on pybreaker's
    own storage, then not on ours."""
    client = redis_client(redis_url)
    now = datetime.now(UTC).replace(microsecond=987_000)
    theirs = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace="theirs")
    theirs.opened_at = now
    assert theirs.opened_at == now.replace(microsecond=0)  # the pitfall, as shipped
    ours = SharedStorage(client, "ours")
    ours.opened_at = now
    assert abs((ours.opened_at - now).total_seconds()) < 0.001


def test_a_short_reset_timeout_is_not_cut_short(redis_url):
    a = worker(redis_url, reset_timeout=0.4)
    trip(a)
    time.sleep(0.2)
    with pytest.raises(CircuitBreakerError, match="Timeout not elapsed"):
        a.call(ok)
    time.sleep(0.3)
    assert a.call(ok) == "ok" and a.current_state == "closed"


def test_a_late_failure_in_another_worker_does_not_push_opened_at_back(redis_url):
    """pybreaker #24: a worker whose call was admitted while closed and fails
    after another worker opened the breaker must not open it again with a
    later opened_at: every worker reaches half-open at the first opening's
    reset timeout."""
    a, b = worker(redis_url, reset_timeout=0.5), worker(redis_url, reset_timeout=0.5)
    opened: list[datetime] = []

    def slow_failure() -> None:
        trip(a)  # meanwhile, another worker opens the breaker
        opened.append(a._state_storage.opened_at)
        time.sleep(0.05)
        raise Boom()

    with pytest.raises(Boom):
        b.call(slow_failure)
    assert b._state_storage.opened_at == opened[0]
    time.sleep(0.5)
    assert b.call(ok) == "ok" and a.current_state == "closed"


def test_one_trial_for_every_worker(redis_url):
    a, b = worker(redis_url, reset_timeout=0.2), worker(redis_url, reset_timeout=0.2)
    trip(a)
    time.sleep(0.25)
    in_trial, release = threading.Event(), threading.Event()

    def trial() -> str:
        in_trial.set()
        release.wait(5)
        return "ok"

    thread = threading.Thread(target=a.call, args=(trial,))
    thread.start()
    assert in_trial.wait(5)
    with pytest.raises(CircuitBreakerError, match="another worker"):
        b.call(ok)
    release.set()
    thread.join(5)
    assert a.current_state == b.current_state == "closed"
    assert b.call(ok) == "ok"


def test_a_worker_killed_mid_trial_does_not_hold_the_breaker_half_open(redis_url):
    a = worker(redis_url, reset_timeout=0.2)
    trip(a)
    time.sleep(0.25)
    assert a._state_storage.claim_trial(0.3)  # a worker took the trial and died with it
    b = worker(redis_url, reset_timeout=0.2)
    with pytest.raises(CircuitBreakerError):
        b.call(ok)
    time.sleep(0.35)
    assert b.call(ok) == "ok" and b.current_state == "closed"


def test_with_redis_down_each_worker_goes_on_alone_and_answers_fast(redis_url, free_port):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    a = worker(redis_url, fail_max=3, reset_timeout=0.5)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    cold = worker(dead, fail_max=3, reset_timeout=0.5)  # Redis down at start: the service still starts
    started = time.monotonic()
    trip(cold)
    with pytest.raises(CircuitBreakerError):
        cold.call(ok)  # opened on its own failures, in memory
    for _ in range(50):
        with pytest.raises(CircuitBreakerError):
            cold.call(ok)
    assert time.monotonic() - started < 1.0, "a dead store must cost one timeout a second, not one per call"
    assert not cold._state_storage.shared
    time.sleep(0.5)
    assert cold.call(ok) == "ok" and cold.current_state == "closed"
    assert a.current_state == "closed" and port  # the live store never heard of it


def test_redis_back_is_the_truth_again(redis_url, start_redis):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    a, b = worker(redis_url), worker(redis_url)
    trip(a)
    assert b.current_state == "open"  # b's calls and its agent's polls read the store, and keep a copy
    client = redis.Redis.from_url(redis_url)
    client.shutdown(nosave=True)  # the store dies; the workers go on from their copies
    with pytest.raises(CircuitBreakerError):
        b.call(ok)
    server = start_redis(port)
    try:
        time.sleep(breaker_store.RETRY_AFTER + 0.1)
        assert b.call(ok) == "ok"  # Redis came back empty: closed again, as pybreaker's storage does
        assert b._state_storage.shared and a.current_state == "closed"
    finally:
        server.kill()
        server.wait()


def test_a_slow_store_costs_each_worker_one_timeout_not_one_a_second(redis_url):
    """Redis frozen (every answer late, as `redis-slow` makes it): the call that
    finds out waits out the socket timeout, and no call after it waits while
    the store stays slow; a probe of the worker's own, not a request, asks
    again. When calls asked again themselves, one call a second waited 0.25 s."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    b = worker(redis_url)
    assert b.call(ok) == "ok" and b._state_storage.shared  # noqa: SLF001
    (pid,) = [int(p) for p in subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True,
                                               text=True).stdout.split()]
    os.kill(pid, signal.SIGSTOP)
    slow: list[float] = []
    try:
        until = time.monotonic() + 3.5
        while time.monotonic() < until:
            began = time.monotonic()
            assert b.call(ok) == "ok"
            if (took := time.monotonic() - began) > 0.15:
                slow.append(round(took, 3))
            time.sleep(0.02)
        assert not b._state_storage.shared  # noqa: SLF001
    finally:
        os.kill(pid, signal.SIGCONT)
    assert len(slow) == 1, f"calls that waited for the frozen store: {slow}"
    deadline = time.monotonic() + breaker_store.RETRY_AFTER + 1.5
    while not b._state_storage.shared and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.05)
    assert b._state_storage.shared, "the probe did not find the store back"  # noqa: SLF001
    assert b.call(ok) == "ok"


def test_a_forked_worker_probes_for_itself(redis_url, free_port):
    """A worker forked while its store is away inherits "away" but not the
    parent's probe thread: it starts its own, and finds the store back."""
    storage = breaker_store.make_storage({"BREAKER_STORAGE": "redis", "SERVICE_NAME": "gateway"}, "orders",
                                         redis_client(f"redis://127.0.0.1:{free_port()}/0"))
    assert not storage.shared  # the dead store, found at start
    storage._redis = redis_client(redis_url)  # noqa: SLF001 - the store "comes back" where the child will look
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        ok_ = False
        try:
            storage.state  # noqa: B018 - a guarded call's read: starts this process's probe
            deadline = time.monotonic() + breaker_store.RETRY_AFTER + 2.0
            while not storage.shared and time.monotonic() < deadline:
                time.sleep(0.05)
            ok_ = storage.shared and storage._probe[0] == os.getpid()  # noqa: SLF001
        finally:
            os.write(write, b"1" if ok_ else b"0")
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(child, 0)


def test_the_agent_reports_and_logs_the_shared_state(redis_url):
    """What worker b's agent sees once worker a opened the breaker: the
    snapshot reads the store; a poll tells b's listeners without a call."""
    a, b = worker(redis_url), worker(redis_url)
    adapter = adapt(b, "orders")
    assert adapter.observed_by == "listener+poll"
    heard: list[tuple[str | None, str]] = []

    class Recorder:
        def transition(self, old: str | None, new: str) -> None:
            heard.append((old, new))

        def outcome(self, *args: object) -> None: ...
        def not_permitted(self) -> None: ...

    adapter.install(Recorder())
    trip(a)
    snapshot = adapter.snapshot()
    assert snapshot["state"] == "open" and snapshot["fail_counter"] == 3 and snapshot["opened_at"] is not None
    adapter.poll()
    assert heard == [("closed", "open")]


def test_the_agent_reads_a_breakers_shared_state_in_one_round_trip(redis_url):
    """Each view a worker publishes reads every breaker's state, opened_at and
    failure count: one MGET (read_together), where pybreaker's properties
    take a round trip each, and the same figures as those three reads."""
    a, b = worker(redis_url), worker(redis_url)
    trip(a)
    adapter = adapt(b, "orders")
    plain = redis.Redis.from_url(redis_url)
    stats = lambda: {c: plain.info("commandstats").get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("mget", "get")}  # noqa: E731
    before = stats()
    snapshot = adapter.snapshot()
    after = stats()
    assert (after["mget"] - before["mget"], after["get"] - before["get"]) == (1, 0), (before, after)
    storage = b._state_storage  # noqa: SLF001
    one_by_one = (storage.state, storage.opened_at, storage.counter)
    assert (snapshot["state"], snapshot["opened_at"], snapshot["fail_counter"]) == (
        one_by_one[0], one_by_one[1].timestamp(), one_by_one[2]) == ("open", one_by_one[1].timestamp(), 3)


def test_memory_storage_is_one_breaker_per_worker():
    config = {"BREAKER_STORAGE": "memory", "SERVICE_NAME": "gateway"}
    assert breaker_store.client_for(config) is None
    assert isinstance(breaker_store.make_storage(config, "orders", None), pybreaker.CircuitMemoryStorage)
    breaker = GuardedBreaker(name="orders", fail_max=3)
    assert adapt(breaker, "orders").observed_by == "listener"
    with pytest.raises(ValueError, match="BREAKER_STORAGE='disk'"):
        breaker_store.client_for({"BREAKER_STORAGE": "disk"})


def test_a_service_started_anew_starts_closed_and_a_replaced_worker_shares(redis_url):
    """What restore and the checks rely on: restarting a service closes its
    breakers, as it does with memory storage. A worker gunicorn replaces is
    forked from the master, not built: it shares the open breaker."""
    a = worker(redis_url)
    trip(a)
    forked = worker(redis_url)  # built like a storage a forked worker inherits: not fresh
    assert forked.current_state == "open"
    config = {"BREAKER_STORAGE": "redis", "SERVICE_NAME": "gateway"}
    restarted = GuardedBreaker(name="orders", fail_max=3, state_storage=breaker_store.make_storage(
        config, "orders", redis_client(redis_url), fresh=True))
    assert restarted.current_state == a.current_state == "closed" and restarted.fail_counter == 0
    assert a.call(ok) == "ok"


def test_a_start_anew_waits_out_a_store_that_is_slow_for_a_moment(redis_url):
    """A busy machine (CI) once left Redis unanswering past the client's
    0.25 s timeout while the gateway restarted to close an open breaker: the
    reset was dropped and the new gateway took the old open state back from
    Redis. A start can wait: the reset is tried again until the store answers."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    a = worker(redis_url)
    trip(a)
    (pid,) = [int(p) for p in subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True,
                                               text=True).stdout.split()]
    os.kill(pid, signal.SIGSTOP)  # frozen: connections wait, the client times out
    began = time.monotonic()  # before the timer starts: Redis answers no sooner than 0.8 s after this
    threading.Timer(0.8, os.kill, (pid, signal.SIGCONT)).start()
    config = {"BREAKER_STORAGE": "redis", "SERVICE_NAME": "gateway"}
    restarted = GuardedBreaker(name="orders", fail_max=3, state_storage=breaker_store.make_storage(
        config, "orders", redis_client(redis_url), fresh=True))
    assert time.monotonic() - began >= 0.7  # it did wait for the store
    time.sleep(breaker_store.RETRY_AFTER)  # past the local copy's time: Redis is read again
    assert restarted.current_state == a.current_state == "closed" and restarted.fail_counter == 0


def test_a_start_anew_gives_up_after_its_patience_and_says_so(redis_url, caplog):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    storage = SharedStorage(redis_client(redis_url), "shop:gateway:orders")
    (pid,) = [int(p) for p in subprocess.run(["pgrep", "-f", f"redis-server 127.0.0.1:{port}"], capture_output=True,
                                               text=True).stdout.split()]
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        assert storage.start_afresh(patience=0.5) is False
        assert 0.5 <= time.monotonic() - began < 2.0
    finally:
        os.kill(pid, signal.SIGCONT)
    assert storage._local.state == "closed"  # noqa: SLF001 - the local copy goes on closed
    assert "unreachable at start" in caplog.text
