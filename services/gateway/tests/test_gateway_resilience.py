"""The gateway when its downstreams fail: 503s, fail-fast breakers, degraded profiles."""

from __future__ import annotations

import time

import orders

FAIL_MAX = 3  # as set by the make_gateway fixture
READ_TIMEOUT = 0.2  # as set by the make_gateway fixture


def timed_get(client, path: str):
    began = time.perf_counter()
    response = client.get(path)
    return response, time.perf_counter() - began


def assert_fallback(response, downstream: str, reason: str) -> None:
    assert response.headers["X-Fallback"] == downstream
    assert response.headers["X-Fallback-Reason"] == reason


def test_slow_users_time_out_then_the_breaker_fails_fast(make_gateway, serve, fake_app, orders_url) -> None:
    client = make_gateway(serve(fake_app(200, {}, delay=1.0)), orders_url).test_client()
    for _ in range(FAIL_MAX):
        response, elapsed = timed_get(client, "/api/users/1")
        assert response.status_code == 503
        assert response.json == {"error": "users unavailable", "reason": "timeout", "breaker": "users"}
        assert_fallback(response, "users", "timeout")
        assert elapsed < 0.9  # cut off by the read timeout, not served after the 1 s delay

    response, elapsed = timed_get(client, "/api/users/1")
    assert response.status_code == 503
    assert response.json["reason"] == "breaker-open"
    assert_fallback(response, "users", "breaker-open")
    # Fast: no call made, so under the read timeout (0.2 s) it would otherwise
    # wait. Not a tighter figure: a busy CI machine took 0.13 s.
    assert elapsed < READ_TIMEOUT

    transitions = client.get("/_chaos/breakers/transitions?after=0").json["transitions"]
    assert [(t["breaker"], t["from"], t["to"]) for t in transitions] == [("users", "closed", "open")]


def test_profile_degrades_when_orders_is_slow(make_gateway, serve, fake_app, users_url) -> None:
    client = make_gateway(users_url, serve(fake_app(200, [], delay=1.0))).test_client()
    for _ in range(FAIL_MAX):
        response = client.get("/api/users/1/profile")
        assert response.status_code == 200
        assert response.json["orders"] is None and response.json["degraded"] is True
        assert response.json["user"]["id"] == 1
        assert_fallback(response, "orders", "timeout")

    response, elapsed = timed_get(client, "/api/users/1/profile")
    assert (response.status_code, response.json["degraded"]) == (200, True)
    assert_fallback(response, "orders", "breaker-open")
    assert elapsed < READ_TIMEOUT  # as above


def test_profile_without_users_is_503(make_gateway, refused_url, orders_url) -> None:
    response = make_gateway(refused_url, orders_url).test_client().get("/api/users/1/profile")
    assert response.status_code == 503
    assert_fallback(response, "users", "connection")


def test_failing_orders_is_503_for_order_calls(make_gateway, serve, fake_app, users_url) -> None:
    client = make_gateway(users_url, serve(fake_app(500, {"error": "boom"}))).test_client()
    response = client.post("/api/orders", json={"user_id": 1, "sku": "SKU-1", "quantity": 1})
    assert response.status_code == 503
    assert response.json == {"error": "orders unavailable", "reason": "upstream-5xx", "breaker": "orders"}
    assert_fallback(client.get("/api/orders/1"), "orders", "upstream-5xx")


def test_a_degraded_answer_from_orders_passes_through(make_gateway, serve, users_url, refused_url, tmp_path) -> None:
    orders_url = serve(
        orders.create_app({"TESTING": True, "DATABASE": str(tmp_path / "o.sqlite3"), "INVENTORY_URL": refused_url})
    )
    client = make_gateway(users_url, orders_url).test_client()
    response = client.post("/api/orders", json={"user_id": 1, "sku": "SKU-1", "quantity": 1})
    assert response.status_code == 202
    assert (response.json["status"], response.json["degraded"]) == ("pending", True)
    assert_fallback(response, "inventory", "connection")


def test_with_breakers_off_every_call_waits_for_the_timeout(make_gateway, serve, fake_app, orders_url) -> None:
    client = make_gateway(serve(fake_app(200, {}, delay=1.0)), orders_url, CHAOS_BREAKERS=False).test_client()
    reasons = [client.get("/api/users/1").json["reason"] for _ in range(FAIL_MAX + 1)]
    assert reasons == ["timeout"] * (FAIL_MAX + 1)
    body = client.get("/_chaos/breakers").json
    assert body["enabled"] is False
    assert {b["name"]: b["state"] for b in body["breakers"]} == {"users": "disabled", "orders": "disabled"}
    users = next(b for b in body["breakers"] if b["name"] == "users")
    assert users["calls"]["failed"] == FAIL_MAX + 1 and users["failures_by_reason"] == {"timeout": FAIL_MAX + 1}
    assert client.get("/_chaos/breakers/transitions").json["transitions"] == []
