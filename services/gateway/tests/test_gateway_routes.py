"""The public API over the real services: forwarding, validation, pass-through."""

from __future__ import annotations

import pytest


def new_order(client, **overrides):
    return client.post("/api/orders", json={"user_id": 1, "sku": "SKU-1", "quantity": 1, **overrides})


def test_get_user(client) -> None:
    response = client.get("/api/users/2")
    assert response.status_code == 200
    assert (response.json["id"], response.json["name"]) == (2, "user-2")


def test_missing_user_is_404_from_users(client) -> None:
    response = client.get("/api/users/99")
    assert (response.status_code, response.json["error"]) == (404, "user not found")


def test_impossible_ids_never_reach_users(client, app) -> None:
    assert client.get("/api/users/0").status_code == 404
    assert client.get("/api/users/99999999999999999999").status_code == 404
    users_breaker = client.get("/_chaos/breakers").json["breakers"][0]
    assert (users_breaker["name"], sum(users_breaker["calls"].values())) == ("users", 0)


def test_create_user_and_duplicate(client) -> None:
    created = client.post("/api/users", json={"name": "Ann", "email": "ann@example.test"})
    assert created.status_code == 201
    assert client.get(f"/api/users/{created.json['id']}").json == created.json
    duplicate = client.post("/api/users", json={"name": "Ann", "email": "ann@example.test"})
    assert duplicate.status_code == 409


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [({"name": "Ann"}, "email"), ({"name": "", "email": "a@example.test"}, "name"), ({"x": 1}, "x")],
)
def test_invalid_users_are_refused_at_the_gateway(client, body, bad_field) -> None:
    response = client.post("/api/users", json=body)
    assert response.status_code == 400
    assert bad_field in response.json["fields"]
    users_breaker = client.get("/_chaos/breakers").json["breakers"][0]
    assert (users_breaker["name"], sum(users_breaker["calls"].values())) == ("users", 0)


def test_place_and_fetch_an_order(client) -> None:
    placed = new_order(client, client_ref="abc")
    assert placed.status_code == 201
    assert placed.json["status"] == "reserved"
    assert new_order(client, client_ref="abc").status_code == 200
    assert client.get(f"/api/orders/{placed.json['id']}").json == placed.json
    assert client.get("/api/orders/999").status_code == 404


def test_order_refusals_pass_through(client) -> None:
    assert new_order(client, sku="SKU-9").status_code == 422
    assert new_order(client, quantity=11).status_code == 409


@pytest.mark.parametrize(
    ("overrides", "bad_field"),
    [({"user_id": "1"}, "user_id"), ({"sku": "x y"}, "sku"), ({"quantity": 1001}, "quantity"), ({"note": "hi"}, "note")],
)
def test_invalid_orders_are_refused_at_the_gateway(client, overrides, bad_field) -> None:
    response = new_order(client, **overrides)
    assert response.status_code == 400
    assert bad_field in response.json["fields"]


def test_user_orders_and_profile(client) -> None:
    first = new_order(client).json
    second = new_order(client).json
    listed = client.get("/api/users/1/orders").json
    assert [o["id"] for o in listed] == [second["id"], first["id"]]

    response = client.get("/api/users/1/profile")
    assert response.status_code == 200
    assert "X-Fallback" not in response.headers
    assert response.json == {"user": client.get("/api/users/1").json, "orders": listed, "degraded": False}


def test_profile_of_a_missing_user_is_404(client) -> None:
    assert client.get("/api/users/99/profile").status_code == 404


def test_gateway_reports_its_two_breakers(client) -> None:
    body = client.get("/_chaos/breakers").json
    assert body["service"] == "gateway"
    assert [b["name"] for b in body["breakers"]] == ["users", "orders"]
    assert {b["state"] for b in body["breakers"]} == {"closed"}
