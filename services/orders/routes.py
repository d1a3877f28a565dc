"""HTTP API of the orders service: thin views over `orders.services`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from shopkit.web import found_or_404, json_error, load_args, load_body, mark_fallback

from orders import services
from orders.schemas import NewOrderSchema, UserOrdersQuery

bp = Blueprint("orders", __name__)


@bp.post("/orders")
def create_order() -> Any:
    """Place an order.

    201 with the order, reserved; 200 with the stored order for a repeated
    client_ref; 202 with a pending order and "degraded": true (plus
    X-Fallback: inventory and X-Fallback-Reason) when inventory is
    unavailable; 422 for an unknown SKU; 409 when out of stock.
    """
    data = load_body(NewOrderSchema())
    try:
        placement = services.place_order(**data)
    except services.UnknownSku:
        return json_error(422, "unknown sku", sku=data["sku"])
    except services.OutOfStock:
        return json_error(409, "out of stock", sku=data["sku"])
    except services.InventoryRefused as exc:
        return json_error(502, "unexpected answer from inventory", status=exc.status)

    if not placement.created:
        return placement.order.to_json(), 200
    if placement.fallback_reason is None:
        return placement.order.to_json(), 201
    response = jsonify({**placement.order.to_json(), "degraded": True})
    response.status_code = 202
    return mark_fallback(response, "inventory", placement.fallback_reason)


@bp.get("/orders/<id:order_id>")
def get_order(order_id: int) -> Any:
    """200 with the order; 404 if there is none."""
    return found_or_404(services.get_order(order_id), "order not found", id=order_id)


@bp.get("/orders")
def list_orders() -> Any:
    """200 with the user's newest orders, newest first (?user_id required)."""
    query = load_args(UserOrdersQuery())
    return [order.to_json() for order in services.orders_of(query["user_id"])]
