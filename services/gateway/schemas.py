"""What the gateway accepts: checked here, at the edge, so that a bad request
is answered without a downstream call (users and orders check again)."""

from shopkit import fields as shop_fields
from shopkit.fields import RequestSchema


class NewUserSchema(RequestSchema):
    """Body of POST /api/users."""

    name = shop_fields.text(1, 100, required=True)
    email = shop_fields.email(required=True)


class NewOrderSchema(RequestSchema):
    """Body of POST /api/orders; without client_ref, orders makes one up."""

    user_id = shop_fields.entity_id(required=True)
    sku = shop_fields.sku(required=True)
    quantity = shop_fields.quantity(required=True)
    client_ref = shop_fields.reference()
