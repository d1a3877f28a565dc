"""The users HTTP API."""

from __future__ import annotations

import sqlite3

import pytest

from users import create_app


def test_seeded_users_are_listed_oldest_first(client) -> None:
    users = client.get("/users").json
    assert [u["id"] for u in users] == [1, 2, 3]
    assert users[1]["name"] == "user-2"
    assert users[1]["email"] == "user-2@example.test"
    assert set(users[1]) == {"id", "name", "email", "created_at"}


def test_list_limit(client) -> None:
    assert len(client.get("/users?limit=2").json) == 2


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "limit=1.5", "page=2"])
def test_list_rejects_bad_queries(client, query) -> None:
    response = client.get(f"/users?{query}")
    assert response.status_code == 400
    assert response.json["error"] == "invalid request"


def test_get_user(client) -> None:
    response = client.get("/users/2")
    assert response.status_code == 200
    assert response.json["name"] == "user-2"


@pytest.mark.parametrize("path", ["/users/4", "/users/0", "/users/-1", "/users/99999999999999999999", "/users/x"])
def test_missing_or_impossible_users_are_404(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "error" in response.json


def test_create_user(client) -> None:
    response = client.post("/users", json={"name": "Ann", "email": "ann@example.test"})
    assert response.status_code == 201
    user = response.json
    assert (user["id"], user["name"], user["email"]) == (4, "Ann", "ann@example.test")
    assert user["created_at"].endswith("Z")
    assert client.get("/users/4").json == user


def test_created_user_is_committed_before_the_answer(app, client) -> None:
    client.post("/users", json={"name": "Ann", "email": "ann@example.test"})
    # A separate connection, as after a SIGKILL and restart, sees the row.
    with sqlite3.connect(app.config["DATABASE"]) as other:
        assert other.execute("SELECT name FROM users WHERE id = 4").fetchone() == ("Ann",)


def test_duplicate_email_is_409_whatever_its_case(client) -> None:
    response = client.post("/users", json={"name": "Copy", "email": "USER-1@example.test"})
    assert response.status_code == 409
    assert response.json["error"] == "email already registered"


@pytest.mark.parametrize(
    ("body", "bad_fields"),
    [
        ({}, {"name", "email"}),
        ({"name": "", "email": "a@example.test"}, {"name"}),
        ({"name": "x" * 101, "email": "a@example.test"}, {"name"}),
        ({"name": 5, "email": "a@example.test"}, {"name"}),
        ({"name": "Ann", "email": "not-an-email"}, {"email"}),
        ({"name": "Ann", "email": "a@example.test", "admin": True}, {"admin"}),
    ],
)
def test_invalid_bodies_are_400_with_field_errors(client, body, bad_fields) -> None:
    response = client.post("/users", json=body)
    assert response.status_code == 400
    assert set(response.json["fields"]) == bad_fields


def test_seeding_happens_only_on_an_empty_table(app, tmp_path) -> None:
    app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.test"})
    again = create_app({"TESTING": True, "DATABASE": app.config["DATABASE"], "SEED_USERS": 50})
    assert len(again.test_client().get("/users?limit=200").json) == 4


def test_health(client) -> None:
    assert client.get("/health").json == {"status": "ok", "service": "users"}
