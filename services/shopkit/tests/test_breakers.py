"""GuardedBreaker, the pass-through breaker, the listener and the transition log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pybreaker
import pytest

from shopkit.breakers import BreakerBoard, CircuitBreakerError, GuardedBreaker, PassThroughBreaker


class Boom(Exception):
    reason = "boom"


def fail() -> None:
    raise Boom()


def ok() -> str:
    return "ok"


def make_breaker(fail_max: int = 3, reset_timeout: float = 30.0, enabled: bool = True) -> GuardedBreaker:
    board = BreakerBoard(enabled=enabled, fail_max=fail_max, reset_timeout=reset_timeout)
    return board.add("inventory")


def trip(breaker: pybreaker.CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.current_state == "open"


def in_thread(breaker: pybreaker.CircuitBreaker, func: Callable) -> tuple[threading.Thread, dict]:
    """Run breaker.call(func) in a thread; the dict receives its result or exception."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = breaker.call(func)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def blocking(release: threading.Event, started: threading.Event, then: Callable) -> Callable:
    def call() -> object:
        started.set()
        assert release.wait(5)
        return then()

    return call


def run_concurrently(breaker: pybreaker.CircuitBreaker, count: int, seconds: float) -> float:
    start = threading.Barrier(count + 1)

    def worker() -> None:
        start.wait()
        breaker.call(time.sleep, seconds)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return time.monotonic() - began


# (a) the lock is not held during the call


def test_concurrent_calls_run_in_parallel() -> None:
    elapsed = run_concurrently(make_breaker(), count=8, seconds=0.3)
    assert elapsed < 0.6  # serialised, it would take 8 x 0.3 = 2.4 s


def test_stock_pybreaker_still_serialises_calls() -> None:
    """Canary: if this fails, pybreaker no longer holds its lock during calls
    and GuardedBreaker.call may be retired."""
    elapsed = run_concurrently(pybreaker.CircuitBreaker(), count=4, seconds=0.1)
    assert elapsed >= 0.38


# (b) trip, reject, one trial, close or reopen


def test_trips_after_fail_max_failures_and_rejects_fast() -> None:
    breaker = make_breaker(fail_max=3)
    for expected_count in (1, 2):
        with pytest.raises(Boom):
            breaker.call(fail)
        assert breaker.current_state == "closed"
        assert breaker.fail_counter == expected_count
    # The tripping call raises its own error, so callers can tell why.
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.current_state == "open"

    called = []
    began = time.perf_counter()
    with pytest.raises(CircuitBreakerError):
        breaker.call(lambda: called.append(1))
    assert time.perf_counter() - began < 0.02
    assert called == []


def test_success_resets_the_failure_count() -> None:
    breaker = make_breaker(fail_max=3)
    for _ in range(2):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert breaker.call(ok) == "ok"
    assert breaker.fail_counter == 0
    assert breaker.current_state == "closed"


def test_half_open_admits_exactly_one_trial_and_closes_on_success() -> None:
    breaker = make_breaker(fail_max=1, reset_timeout=0.05)
    trip(breaker)
    time.sleep(0.06)
    release, started = threading.Event(), threading.Event()
    thread, outcome = in_thread(breaker, blocking(release, started, ok))
    assert started.wait(2)
    assert breaker.current_state == "half-open"

    began = time.perf_counter()
    with pytest.raises(CircuitBreakerError, match="Trial call in flight"):
        breaker.call(ok)
    assert time.perf_counter() - began < 0.02

    release.set()
    thread.join()
    assert outcome == {"result": "ok"}
    assert breaker.current_state == "closed"
    assert breaker.call(ok) == "ok"


def test_failed_trial_reopens_for_another_reset_timeout() -> None:
    breaker = make_breaker(fail_max=1, reset_timeout=0.05)
    trip(breaker)
    first_opening = breaker.snapshot()["opened_at"]
    time.sleep(0.06)
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.current_state == "open"
    assert breaker.snapshot()["opened_at"] > first_opening
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)


def test_reset_timeout_is_measured_from_opening() -> None:
    breaker = make_breaker(fail_max=1, reset_timeout=0.2)
    trip(breaker)
    time.sleep(0.1)
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)
    time.sleep(0.11)
    assert breaker.call(ok) == "ok"


# (c) stale outcomes move no state


def test_stale_success_does_not_close_an_open_breaker() -> None:
    breaker = make_breaker(fail_max=2)
    release, started = threading.Event(), threading.Event()
    thread, outcome = in_thread(breaker, blocking(release, started, ok))
    assert started.wait(2)  # admitted while closed
    trip(breaker)
    release.set()
    thread.join()
    assert outcome == {"result": "ok"}  # the caller still gets its answer
    assert breaker.current_state == "open"
    assert breaker.fail_counter == 2


def test_stale_failure_does_not_reopen_after_a_successful_trial() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=0.05)
    breaker = board.add("inventory")
    release, started = threading.Event(), threading.Event()
    thread, outcome = in_thread(breaker, blocking(release, started, fail))
    assert started.wait(2)
    trip(breaker)
    time.sleep(0.06)
    assert breaker.call(ok) == "ok"  # the trial closes the breaker
    release.set()
    thread.join()
    assert isinstance(outcome["error"], Boom)
    assert breaker.current_state == "closed"
    assert breaker.fail_counter == 0
    # The stale failure still reached the listener: it was a real call.
    assert board.describe()[0]["failures_by_reason"] == {"boom": 2}


# (d) transitions are timestamped; long-pollers wake at once


def test_transitions_are_logged_with_sequence_and_wall_clock_time() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=0.05)
    breaker = board.add("inventory")
    before = time.time()
    trip(breaker)
    time.sleep(0.06)
    breaker.call(ok)
    after = time.time()

    last_seq, entries = board.log.since(0)
    assert last_seq == 3
    assert [(e["seq"], e["breaker"], e["from"], e["to"]) for e in entries] == [
        (1, "inventory", "closed", "open"),
        (2, "inventory", "open", "half-open"),
        (3, "inventory", "half-open", "closed"),
    ]
    stamps = [e["at"] for e in entries]
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= after
    assert stamps[1] - stamps[0] >= 0.05  # half-open only after reset_timeout
    assert board.log.since(2)[1] == entries[2:]


def test_long_poll_wakes_within_milliseconds_of_a_transition() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=30)
    breaker = board.add("orders")
    woke: dict = {}

    def poll() -> None:
        woke["result"] = board.log.since(0, wait=5)
        woke["at"] = time.time()

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.1)
    trip(breaker)
    poller.join(2)
    last_seq, entries = woke["result"]
    assert [e["to"] for e in entries] == ["open"]
    assert woke["at"] - entries[0]["at"] < 0.02


def test_long_poll_returns_empty_when_wait_expires() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=30)
    began = time.monotonic()
    assert board.log.since(0, wait=0.1) == (0, [])
    assert 0.09 <= time.monotonic() - began < 0.5


# counters, exclusions, the /breakers description


def test_listener_counts_calls_successes_failures_and_rejections() -> None:
    board = BreakerBoard(enabled=True, fail_max=2, reset_timeout=30)
    breaker = board.add("users")
    breaker.call(ok)
    trip(breaker)
    for _ in range(3):
        with pytest.raises(CircuitBreakerError):
            breaker.call(ok)
    (described,) = board.describe()
    assert described["calls"] == 3
    assert described["successes"] == 1
    assert described["failures"] == 2
    assert described["failures_by_reason"] == {"boom": 2}
    assert described["rejections"] == 3


def test_excluded_exceptions_count_as_successes() -> None:
    board = BreakerBoard(enabled=True, fail_max=2, reset_timeout=30)
    breaker = board.add("users", exclude=[lambda exc: isinstance(exc, KeyError)])
    for _ in range(5):
        with pytest.raises(KeyError):
            breaker.call(lambda: {}["missing"])
    assert breaker.current_state == "closed"
    assert board.describe()[0]["successes"] == 5


def test_describe_reports_stored_state_and_retry_at() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=7.5)
    breaker = board.add("orders")
    closed = board.describe()[0]
    assert closed["state"] == "closed"
    assert closed["opened_at"] is None and closed["retry_at"] is None
    trip(breaker)
    opened = board.describe()[0]
    assert opened["state"] == "open"
    assert opened["fail_max"] == 1 and opened["reset_timeout"] == 7.5
    assert opened["retry_at"] == pytest.approx(opened["opened_at"] + 7.5)
    assert abs(opened["opened_at"] - time.time()) < 1


def test_open_to_half_open_is_lazy() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=0.05)
    breaker = board.add("orders")
    trip(breaker)
    time.sleep(0.06)
    # Past retry_at, nobody has called: the stored state is still open.
    assert board.describe()[0]["state"] == "open"
    assert board.describe()[0]["retry_at"] < time.time()
    breaker.call(ok)
    assert board.describe()[0]["state"] == "closed"


def test_board_refuses_a_second_breaker_with_the_same_name() -> None:
    board = BreakerBoard(enabled=True, fail_max=1, reset_timeout=1)
    board.add("users")
    with pytest.raises(ValueError, match="users"):
        board.add("users")


# breakers off


def test_disabled_breakers_never_trip_but_still_count() -> None:
    board = BreakerBoard(enabled=False, fail_max=2, reset_timeout=30)
    breaker = board.add("inventory")
    assert isinstance(breaker, PassThroughBreaker)
    calls = []
    for _ in range(10):
        with pytest.raises(Boom):
            breaker.call(lambda: (calls.append(1), fail()))
    assert len(calls) == 10
    assert breaker.call(ok) == "ok"
    (described,) = board.describe()
    assert described["state"] == "disabled"
    assert described["retry_at"] is None
    assert (described["calls"], described["failures"], described["successes"]) == (11, 10, 1)
    assert board.log.since(0) == (0, [])
