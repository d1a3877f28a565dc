"""The orders service layer."""

from __future__ import annotations

import pytest

from orders import services


def test_place_order_reports_what_it_did(app, stock) -> None:
    with app.app_context():
        first = services.place_order(user_id=3, sku="SKU-2", quantity=1, client_ref="a")
        again = services.place_order(user_id=3, sku="SKU-2", quantity=1, client_ref="a")
    assert (first.created, first.fallback_reason, first.order.status) == (True, None, "reserved")
    assert (again.created, again.order) == (False, first.order)
    assert stock("SKU-2") == 9


def test_place_order_falls_back_to_pending(make_orders, refused_url) -> None:
    with make_orders(refused_url).app_context():
        placed = services.place_order(user_id=3, sku="SKU-2", quantity=1, client_ref="a")
        assert (placed.created, placed.fallback_reason, placed.order.status) == (True, "connection", "pending")
        assert services.orders_of(3) == [placed.order]


def test_place_order_raises_for_inventory_refusals(app) -> None:
    with app.app_context():
        with pytest.raises(services.UnknownSku):
            services.place_order(user_id=3, sku="NOPE", quantity=1, client_ref="a")
        with pytest.raises(services.OutOfStock):
            services.place_order(user_id=3, sku="SKU-1", quantity=50, client_ref="b")
        assert services.orders_of(3) == []


def test_unexpected_inventory_answers_are_refusals(make_orders, serve, fake_app) -> None:
    with make_orders(serve(fake_app(418, {"error": "teapot"}))).app_context():
        with pytest.raises(services.InventoryRefused) as caught:
            services.place_order(user_id=3, sku="SKU-1", quantity=1, client_ref="a")
    assert caught.value.status == 418
