"""What the inventory API accepts."""

from marshmallow import fields, validate

from shopkit import fields as shop_fields
from shopkit.fields import RequestSchema


class NewItemSchema(RequestSchema):
    """Body of POST /items."""

    sku = shop_fields.sku(required=True)
    name = shop_fields.text(1, 100, required=True)
    stock = fields.Integer(strict=True, required=True, validate=validate.Range(0, shop_fields.MAX_ID))


class ReservationSchema(RequestSchema):
    """Body of POST /reservations."""

    sku = shop_fields.sku(required=True)
    quantity = shop_fields.quantity(required=True)
    order_ref = shop_fields.reference(required=True)


class SkuPath(RequestSchema):
    """The <sku> of /items/<sku>."""

    sku = shop_fields.sku(required=True)


class ListItemsQuery(RequestSchema):
    """Query string of GET /items."""

    limit = shop_fields.limit(default=50, maximum=200)
