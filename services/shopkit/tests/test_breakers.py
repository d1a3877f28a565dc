"""GuardedBreaker and the board, with the chaos agent watching every breaker
(as in a running service): the lock fix holds while the agent wraps `call`,
and what the breakers do reaches the agent's /_chaos/breakers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pybreaker
import pytest
from flask import Flask

from shopkit import create_service_app
from shopkit.breakers import BreakerBoard, CircuitBreakerError, GuardedBreaker


class Boom(Exception):
    reason = "boom"


def fail() -> None:
    raise Boom()


def ok() -> str:
    return "ok"


def make_app(fail_max: int = 3, reset_timeout: float = 30.0, agent: bool = True, breakers: bool = True) -> Flask:
    return create_service_app(
        "shopkit",
        {"SERVICE_NAME": "demo"},
        {"CHAOS_AGENT": agent, "CHAOS_BREAKERS": breakers, "BREAKER_FAIL_MAX": fail_max,
         "BREAKER_RESET_TIMEOUT": reset_timeout},
    )


def board_of(app: Flask) -> BreakerBoard:
    return app.extensions["shopkit.breakers"]


def make_breaker(fail_max: int = 3, reset_timeout: float = 30.0, agent: bool = True) -> GuardedBreaker:
    return board_of(make_app(fail_max, reset_timeout, agent)).add("inventory")


def described(app: Flask) -> list[dict[str, Any]]:
    """The agent's GET /_chaos/breakers, breaker by breaker."""
    return app.test_client().get("/_chaos/breakers").json["breakers"]


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


@pytest.mark.parametrize("agent", [True, False], ids=["watched", "unwatched"])
def test_concurrent_calls_run_in_parallel(agent: bool) -> None:
    breaker = make_breaker(agent=agent)
    # Watched, the agent's wrapper is an instance attribute over GuardedBreaker.call.
    assert ("call" in vars(breaker)) is agent
    elapsed = run_concurrently(breaker, count=8, seconds=0.3)
    assert elapsed < 1.2  # serialised, it would take 8 x 0.3 = 2.4 s


def test_stock_pybreaker_still_serialises_calls() -> None:
    """Canary: if this fails, pybreaker no longer holds its lock during calls
    and GuardedBreaker.call may be retired."""
    elapsed = run_concurrently(pybreaker.CircuitBreaker(), count=4, seconds=0.1)
    # 4 x 0.1 s one after another; a little less if this thread ran late
    # past the barrier. In parallel it would be 0.1 s.
    assert elapsed >= 0.3


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
    assert time.perf_counter() - began < 0.5  # not kept waiting for the trial, which holds on until released
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
    app = make_app(fail_max=1, reset_timeout=0.05)
    breaker = board_of(app).add("inventory")
    trip(breaker)
    time.sleep(0.06)
    release, started = threading.Event(), threading.Event()
    thread, outcome = in_thread(breaker, blocking(release, started, ok))
    assert started.wait(2)
    assert breaker.current_state == "half-open"

    began = time.perf_counter()
    with pytest.raises(CircuitBreakerError, match="Trial call in flight"):
        breaker.call(ok)
    assert time.perf_counter() - began < 0.5  # not kept waiting for the trial, which holds on until released

    release.set()
    thread.join()
    assert outcome == {"result": "ok"}
    assert breaker.current_state == "closed"
    assert breaker.call(ok) == "ok"
    # Refused while the trial was in flight, without running: not permitted.
    assert described(app)[0]["calls"] == {"successful": 2, "failed": 1, "ignored": 0, "not_permitted": 1}


def test_failed_trial_reopens_for_another_reset_timeout() -> None:
    # Half a second open: the refusal below must come before it is over, and a
    # busy CI machine can take tens of milliseconds between two lines.
    app = make_app(fail_max=1, reset_timeout=0.5)
    breaker = board_of(app).add("inventory")
    trip(breaker)
    first_opening = described(app)[0]["opened_at"]
    time.sleep(0.51)
    with pytest.raises(Boom):
        breaker.call(fail)
    assert breaker.current_state == "open"
    assert described(app)[0]["opened_at"] > first_opening
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)


def test_reset_timeout_is_measured_from_opening() -> None:
    breaker = make_breaker(fail_max=1, reset_timeout=0.6)
    trip(breaker)
    time.sleep(0.2)  # well inside the reset timeout, even on a busy machine
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)
    time.sleep(0.41)
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
    app = make_app(fail_max=1, reset_timeout=0.05)
    breaker = board_of(app).add("inventory")
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
    # The stale failure still counts: it was a real call.
    assert described(app)[0]["failures_by_reason"] == {"boom": 2}


# (d) the agent sees every transition, timestamped, and every outcome


def test_transitions_reach_the_agent_with_sequence_and_wall_clock_time() -> None:
    app = make_app(fail_max=1, reset_timeout=0.05)
    breaker = board_of(app).add("inventory")
    before = time.time()
    trip(breaker)
    time.sleep(0.06)
    breaker.call(ok)
    after = time.time()

    body = app.test_client().get("/_chaos/breakers/transitions?after=0").json
    assert body["last_seq"] == 3
    entries = body["transitions"]
    assert [(e["seq"], e["breaker"], e["from"], e["to"]) for e in entries] == [
        (1, "inventory", "closed", "open"),
        (2, "inventory", "open", "half-open"),
        (3, "inventory", "half-open", "closed"),
    ]
    stamps = [e["at"] for e in entries]
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= after
    assert stamps[1] - stamps[0] >= 0.05  # half-open only after reset_timeout


def test_the_agent_counts_outcomes_and_refusals_by_reason() -> None:
    app = make_app(fail_max=2)
    breaker = board_of(app).add("users")
    breaker.call(ok)
    trip(breaker)
    for _ in range(3):
        with pytest.raises(CircuitBreakerError):
            breaker.call(ok)
    (users,) = described(app)
    assert users["calls"] == {"successful": 1, "failed": 2, "ignored": 0, "not_permitted": 3}
    assert users["failures_by_reason"] == {"boom": 2}


def test_excluded_exceptions_count_as_successes_and_are_ignored_by_the_agent() -> None:
    app = make_app(fail_max=2)
    breaker = board_of(app).add("users", exclude=[lambda exc: isinstance(exc, KeyError)])
    for _ in range(5):
        with pytest.raises(KeyError):
            breaker.call(lambda: {}["missing"])
    assert breaker.current_state == "closed"
    assert described(app)[0]["calls"]["ignored"] == 5


def test_the_agent_reports_stored_state_and_retry_at() -> None:
    app = make_app(fail_max=1, reset_timeout=7.5)
    breaker = board_of(app).add("orders")
    closed = described(app)[0]
    assert closed["state"] == "closed"
    assert closed["opened_at"] is None and closed["retry_at"] is None
    trip(breaker)
    opened = described(app)[0]
    assert opened["state"] == "open"
    assert opened["fail_max"] == 1 and opened["reset_timeout"] == 7.5
    assert opened["retry_at"] == pytest.approx(opened["opened_at"] + 7.5)
    assert abs(opened["opened_at"] - time.time()) < 1


def test_open_to_half_open_is_lazy() -> None:
    app = make_app(fail_max=1, reset_timeout=0.05)
    breaker = board_of(app).add("orders")
    trip(breaker)
    time.sleep(0.06)
    # Past retry_at, nobody has called: the stored state is still open.
    assert described(app)[0]["state"] == "open"
    assert described(app)[0]["retry_at"] < time.time()
    breaker.call(ok)
    assert described(app)[0]["state"] == "closed"


def test_board_refuses_a_second_breaker_with_the_same_name() -> None:
    board = board_of(make_app())
    board.add("users")
    with pytest.raises(ValueError, match="users"):
        board.add("users")


def test_with_the_agent_off_breakers_work_unwatched() -> None:
    app = make_app(fail_max=1, agent=False)
    breaker = board_of(app).add("inventory")
    assert "call" not in vars(breaker)  # nobody wrapped GuardedBreaker.call
    trip(breaker)
    with pytest.raises(CircuitBreakerError):
        breaker.call(ok)
    assert app.test_client().get("/_chaos/breakers").status_code == 404


# breakers off (the agent's switch, CHAOS_BREAKERS)


def test_disabled_breakers_never_trip_but_still_count() -> None:
    app = make_app(fail_max=2, breakers=False)
    breaker = board_of(app).add("inventory")
    assert isinstance(breaker, GuardedBreaker)
    calls = []
    for _ in range(10):
        with pytest.raises(Boom):
            breaker.call(lambda: (calls.append(1), fail()))
    assert len(calls) == 10
    assert breaker.call(ok) == "ok"
    (inventory,) = described(app)
    assert inventory["state"] == "disabled"
    assert inventory["retry_at"] is None
    assert inventory["calls"] == {"successful": 1, "failed": 10, "ignored": 0, "not_permitted": 0}
    assert app.test_client().get("/_chaos/breakers/transitions").json["transitions"] == []
