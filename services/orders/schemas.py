"""What the orders API accepts."""

import uuid

from shopkit import fields as shop_fields
from shopkit.fields import RequestSchema


class NewOrderSchema(RequestSchema):
    """Body of POST /orders. Without client_ref, each request is a new order."""

    user_id = shop_fields.entity_id(required=True)
    sku = shop_fields.sku(required=True)
    quantity = shop_fields.quantity(required=True)
    client_ref = shop_fields.reference(load_default=lambda: uuid.uuid4().hex)


class UserOrdersQuery(RequestSchema):
    """Query string of GET /orders."""

    user_id = shop_fields.entity_id(in_query=True, required=True)
