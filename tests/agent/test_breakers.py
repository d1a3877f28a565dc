"""One suite, run once per breaker library (pybreaker, circuitbreaker): the
agent sees the same transitions, counters, fallbacks and metrics whichever
library guards the call. Every reply is checked against the contract."""

from __future__ import annotations

import threading
import time

import pytest

from .helpers import FAIL_MAX, RESET, breaker_of, metric, transitions_of

CYCLE = [("closed", "open"), ("open", "half-open"), ("half-open", "closed"),
         ("closed", "open"), ("open", "half-open"), ("half-open", "open")]


def wait_until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_closed_open_half_open_closed_and_open_again_from_a_failed_trial(demo):
    client = demo.client
    assert transitions_of(client) == [] and breaker_of(client)["state"] == "closed"
    demo.trip()
    tripped = breaker_of(client)
    assert tripped["state"] == "open" and tripped["fail_counter"] == FAIL_MAX and tripped["fail_max"] == FAIL_MAX
    assert tripped["reset_timeout"] == RESET
    assert abs(tripped["opened_at"] - time.time()) < 1 and tripped["retry_at"] == pytest.approx(tripped["opened_at"] + RESET)
    assert client.get("/users").json == {"user": None}  # refused while open
    time.sleep(RESET + 0.05)
    demo.mode = "ok"
    assert client.get("/users").json == {"user": "ada"}  # the trial succeeds
    closed = breaker_of(client)
    assert closed["state"] == "closed" and closed["retry_at"] is None and closed["fail_counter"] == 0
    demo.trip()
    time.sleep(RESET + 0.05)
    demo.call()  # the trial fails
    assert breaker_of(client)["state"] == "open"
    body = client.get("/_chaos/breakers/transitions").json
    assert [(t["from"], t["to"]) for t in body["transitions"]] == CYCLE
    assert [t["seq"] for t in body["transitions"]] == [1, 2, 3, 4, 5, 6] and body["last_seq"] == 6
    assert {t["breaker"] for t in body["transitions"]} == {"users"}
    assert body["boot_id"] == client.get("/_chaos").json["boot_id"] == client.get("/_chaos/breakers").json["boot_id"]
    # Nothing after the cycle, but for one thing: a library that half-opens
    # lazily (circuitbreaker) does so on the first look past the reset
    # timeout, and on a loaded machine the looks above can take that long
    # (seen once in CI); then open -> half-open follows, RESET after the reopening.
    later = client.get("/_chaos/breakers/transitions?after=4").json["transitions"]
    assert [(t["from"], t["to"]) for t in later[:2]] == CYCLE[4:]
    assert [(t["from"], t["to"]) for t in later[2:]] in ([], [("open", "half-open")])
    if len(later) > 2:
        assert later[2]["at"] - later[1]["at"] >= RESET - 0.05
    ats = [t["at"] for t in body["transitions"]]
    assert ats == sorted(ats)


def test_counters_by_outcome_and_failure_reason(demo):
    client = demo.client
    for path in ("/users", "/users-call", "/users"):
        assert client.get(path).status_code == 200
    demo.mode = "missing"
    assert client.get("/users").status_code == 404  # KeyError: excluded, so ignored
    assert client.get("/users-call").status_code == 404
    demo.trip()
    client.get("/users")
    client.get("/users")
    ran = demo.ran
    b = breaker_of(client)
    assert b["calls"] == {"successful": 3, "failed": FAIL_MAX, "ignored": 2, "not_permitted": 2}
    assert b["failures_by_reason"] == {"ConnectionError": FAIL_MAX}
    assert ran == 3 + 2 + FAIL_MAX  # refused calls did not run
    assert b["library"] == demo.lib and b["observed_by"] == {"pybreaker": "listener", "circuitbreaker": "wrap+poll"}[demo.lib]


def test_refused_and_failed_calls_mark_the_answer_as_a_fallback(demo):
    client = demo.client
    ok = client.get("/users")
    assert "X-Fallback" not in ok.headers
    demo.mode = "fail"
    failed = client.get("/users")
    assert failed.headers["X-Fallback"] == "users" and failed.headers["X-Fallback-Reason"] == "failure"
    demo.trip()
    refused = client.get("/users")
    assert refused.headers["X-Fallback"] == "users" and refused.headers["X-Fallback-Reason"] == "breaker-open"
    assert "X-Fallback" not in client.get("/health").headers  # no breaker call in that request


def test_long_poll_wakes_as_soon_as_a_transition_happens_in_another_thread(demo):
    client = demo.client
    started = time.monotonic()
    assert client.get("/_chaos/breakers/transitions?after=0&wait=0.2").json["transitions"] == []
    assert 0.15 <= time.monotonic() - started < 2
    timer = threading.Timer(0.3, demo.trip)
    started = time.monotonic()  # before the timer starts: the trip comes at least 0.3 s after this
    timer.start()
    body = client.get("/_chaos/breakers/transitions?after=0&wait=5").json
    waited = time.monotonic() - started
    timer.join()
    assert [(t["from"], t["to"]) for t in body["transitions"]] == [("closed", "open")]
    assert 0.29 <= waited < 2.5, waited  # it waited for the transition, and not out the 5 s


def test_breakers_off_every_call_runs_nothing_trips_state_disabled(demos, lib):
    demo = demos(lib, CHAOS_BREAKERS="off")
    client = demo.client
    demo.mode = "fail"
    for path in ["/users", "/users-call"] * 5:
        assert client.get(path).json == {"user": None}
    assert demo.ran == 10  # every call ran: nothing was refused
    demo.mode = "missing"
    assert client.get("/users-call").status_code == 404
    demo.mode = "ok"
    assert client.get("/users").json == {"user": "ada"}
    b = breaker_of(client)
    assert b["state"] == "disabled" and b["retry_at"] is None and b["opened_at"] is None
    assert b["calls"] == {"successful": 1, "failed": 10, "ignored": 1, "not_permitted": 0}
    assert client.get("/_chaos/breakers").json["enabled"] is False
    assert client.get("/_chaos").json["breakers_enabled"] is False
    assert transitions_of(client) == []
    text = client.get("/_chaos/metrics").text
    assert metric(text, "chaos_circuitbreaker_state", name="users", state="disabled") == 1
    assert metric(text, "chaos_circuitbreaker_state", name="users", state="closed") == 0


def test_metrics_carry_resilience4j_shaped_series(demo):
    client = demo.client
    text = client.get("/_chaos/metrics").text
    assert metric(text, "chaos_circuitbreaker_state", name="users", state="closed") == 1
    assert metric(text, "chaos_circuitbreaker_failure_rate", name="users") == -1
    for _ in range(8):
        demo.call()
    demo.trip()  # 8 successes, 3 failures: 11 calls in the window
    demo.call()  # refused
    text = client.get("/_chaos/metrics").text
    for state, value in (("closed", 0), ("open", 1), ("half_open", 0), ("disabled", 0)):
        assert metric(text, "chaos_circuitbreaker_state", name="users", state=state) == value
    assert metric(text, "chaos_circuitbreaker_calls_seconds_count", name="users", kind="successful") == 8
    assert metric(text, "chaos_circuitbreaker_calls_seconds_count", name="users", kind="failed") == FAIL_MAX
    assert metric(text, "chaos_circuitbreaker_calls_seconds_count", name="users", kind="ignored") == 0
    assert metric(text, "chaos_circuitbreaker_calls_seconds_sum", name="users", kind="successful") >= 0
    assert metric(text, "chaos_circuitbreaker_not_permitted_calls_total", name="users", kind="not_permitted") == 1
    assert metric(text, "chaos_circuitbreaker_failure_rate", name="users") == pytest.approx(100 * 3 / 11)
    assert metric(text, "chaos_circuitbreaker_buffered_calls", name="users", kind="failed") == 3
    assert metric(text, "chaos_circuitbreaker_transitions_total", name="users", from_state="closed",
                  to_state="open") == 1


@pytest.fixture(params=["pybreaker", "circuitbreaker"])
def lib(request):
    return request.param


def test_readers_do_not_wait_for_a_slow_guarded_call(demo):
    release = threading.Event()
    demo.fetch_slow = demo.breaker(lambda: release.wait(5) and "slow")
    worker = threading.Thread(target=demo.fetch_slow)
    worker.start()
    try:
        time.sleep(0.05)
        started = time.monotonic()
        for path in ("/_chaos/breakers", "/_chaos/metrics", "/_chaos"):
            assert demo.client.get(path).status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        worker.join()
    assert breaker_of(demo.client)["calls"]["successful"] == 1


def test_concurrent_calls_keep_the_counters_consistent(demo):
    def hammer():
        for i in range(200):
            demo.call()

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker_of(demo.client)["calls"] == {"successful": 1200, "failed": 0, "ignored": 0, "not_permitted": 0}


def test_latency_percentiles_over_the_last_100_calls(demo, monkeypatch):
    """Known durations in, nearest-rank p50/p90/p99/max out, over a window
    of the last 100 calls that ran; every reply valid by the contract."""
    import random
    import types

    import chaos.agent.adapters

    clock = [0.0]
    monkeypatch.setattr(chaos.agent.adapters, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    durations: list[float] = []

    def fetch() -> str:
        clock[0] += durations.pop(0)  # the call "takes" its scripted duration
        return "ada"

    demo.fetch = fetch  # /users-call looks it up at each request
    client = demo.client
    assert breaker_of(client)["latency"] == {"window": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ms = [i / 1000 for i in range(1, 101)]
    random.Random(7).shuffle(ms)
    for seconds in ms:
        durations.append(seconds)
        assert client.get("/users-call").status_code == 200
    assert breaker_of(client)["latency"] == pytest.approx({"window": 100, "p50": 0.050, "p90": 0.090, "p99": 0.099, "max": 0.100})
    # 20 slow calls push the oldest 20 out of the window
    oldest = set(ms[:20])
    for _ in range(20):
        durations.append(1.0)
        client.get("/users-call")
    kept = sorted([s for s in ms if s not in oldest] + [1.0] * 20)
    assert breaker_of(client)["latency"] == pytest.approx({"window": 100, "p50": kept[49], "p90": 1.0, "p99": 1.0, "max": 1.0})
    assert breaker_of(client)["calls"]["successful"] == 120
