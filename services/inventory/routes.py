"""HTTP API of the inventory service: thin views over `inventory.services`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shopkit.web import found_or_404, json_error, load_args, load_body, load_view_args

from inventory import services
from inventory.schemas import ListItemsQuery, NewItemSchema, ReservationSchema, SkuPath

bp = Blueprint("inventory", __name__)


@bp.get("/items")
def list_items() -> Any:
    """200 with a JSON list of items by SKU (?limit, 1..200, default 50)."""
    query = load_args(ListItemsQuery())
    return [item.to_json() for item in services.list_items(query["limit"])]


@bp.get("/items/<sku>")
def get_item(sku: str) -> Any:
    """200 with the item; 400 for a malformed SKU; 404 if there is none."""
    sku = load_view_args(SkuPath())["sku"]
    return found_or_404(services.get_item(sku), "item not found", sku=sku)


@bp.post("/items")
def create_item() -> Any:
    """201 with the new item; 400 for an invalid body; 409 if the SKU exists."""
    data = load_body(NewItemSchema())
    try:
        item = services.add_item(data["sku"], data["name"], data["stock"])
    except services.ItemExists:
        return json_error(409, "item already exists", sku=data["sku"])
    return item.to_json(), 201


@bp.post("/reservations")
def create_reservation() -> Any:
    """201 with a new reservation, 200 with the earlier one for a repeated
    order_ref; 404 for an unknown SKU; 409 if stock is short."""
    data = load_body(ReservationSchema())
    try:
        result = services.reserve(data["sku"], data["quantity"], data["order_ref"])
    except services.UnknownSku:
        return json_error(404, "unknown sku", sku=data["sku"])
    except services.OutOfStock:
        return json_error(409, "out of stock", sku=data["sku"])
    return result.reservation.to_json(), 201 if result.created else 200
