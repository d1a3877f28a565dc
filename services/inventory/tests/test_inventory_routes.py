"""The inventory HTTP API."""

from __future__ import annotations

import threading

import pytest


def stock(client, sku: str = "SKU-1") -> int:
    return client.get(f"/items/{sku}").json["stock"]


def reserve(client, order_ref: str, sku: str = "SKU-1", quantity: int = 1):
    return client.post("/reservations", json={"sku": sku, "quantity": quantity, "order_ref": order_ref})


def test_seeded_items(client) -> None:
    items = client.get("/items").json
    assert [i["sku"] for i in items] == ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"]
    assert all(i["stock"] == 10 for i in items)
    assert len(client.get("/items?limit=2").json) == 2


def test_get_item(client) -> None:
    assert client.get("/items/SKU-3").json["name"] == "Item SKU-3"
    assert client.get("/items/SKU-9").status_code == 404


@pytest.mark.parametrize("sku", ["sku-1", "SKU_1", "X" * 33, "%F0%9F%92%A5"])
def test_malformed_skus_in_the_path_are_400(client, sku) -> None:
    response = client.get(f"/items/{sku}")
    assert response.status_code == 400
    assert "sku" in response.json["fields"]


def test_create_item(client) -> None:
    response = client.post("/items", json={"sku": "NEW-1", "name": "New", "stock": 0})
    assert response.status_code == 201
    assert {k: response.json[k] for k in ("sku", "name", "stock")} == {"sku": "NEW-1", "name": "New", "stock": 0}
    assert client.post("/items", json={"sku": "NEW-1", "name": "Again", "stock": 1}).status_code == 409


@pytest.mark.parametrize(
    ("body", "bad_fields"),
    [
        ({"sku": "A", "name": "n", "stock": -1}, {"stock"}),
        ({"sku": "A", "name": "n", "stock": True}, {"stock"}),
        ({"sku": "A", "name": "n", "stock": "5"}, {"stock"}),
        ({"sku": "A\n", "name": "n", "stock": 1}, {"sku"}),
        ({"sku": "A", "name": "", "stock": 1}, {"name"}),
        ({"sku": "A", "name": "n", "stock": 2**63}, {"stock"}),
    ],
)
def test_invalid_items_are_400(client, body, bad_fields) -> None:
    response = client.post("/items", json=body)
    assert response.status_code == 400
    assert set(response.json["fields"]) == bad_fields


def test_reservation_takes_stock(client) -> None:
    response = reserve(client, "order-1", quantity=4)
    assert response.status_code == 201
    assert {k: response.json[k] for k in ("sku", "quantity", "order_ref")} == {
        "sku": "SKU-1",
        "quantity": 4,
        "order_ref": "order-1",
    }
    assert set(response.json) == {"id", "sku", "quantity", "order_ref", "created_at"}
    assert stock(client) == 6


def test_repeated_order_ref_returns_the_first_reservation_and_takes_nothing(client) -> None:
    first = reserve(client, "order-1", quantity=4)
    again = reserve(client, "order-1", quantity=4)
    assert again.status_code == 200
    assert again.json == first.json
    assert stock(client) == 6


def test_unknown_sku_is_404_and_short_stock_409(client) -> None:
    assert reserve(client, "a", sku="SKU-9").status_code == 404
    response = reserve(client, "b", quantity=11)
    assert response.status_code == 409
    assert response.json["error"] == "out of stock"
    assert stock(client) == 10
    # A refused reservation leaves its order_ref free to try again.
    assert reserve(client, "b", quantity=10).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "SKU-1", "quantity": 0, "order_ref": "x"},
        {"sku": "SKU-1", "quantity": 1001, "order_ref": "x"},
        {"sku": "SKU-1", "quantity": 1, "order_ref": ""},
        {"sku": "SKU-1", "quantity": 1, "order_ref": "x" * 65},
        {"sku": "SKU-1", "quantity": 1},
    ],
)
def test_invalid_reservations_are_400(client, body) -> None:
    assert client.post("/reservations", json=body).status_code == 400
    assert stock(client) == 10


def test_concurrent_reservations_never_oversell(app) -> None:
    statuses = []

    def worker(n: int) -> None:
        statuses.append(reserve(app.test_client(), f"order-{n}", quantity=3).status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 3 + [409] * 5
    assert stock(app.test_client()) == 1


def test_concurrent_repeats_of_one_order_ref_reserve_once(app) -> None:
    statuses = []

    def worker() -> None:
        statuses.append(reserve(app.test_client(), "same", quantity=2).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert stock(app.test_client()) == 8
