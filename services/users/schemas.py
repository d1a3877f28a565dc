"""What the users API accepts."""

from shopkit import fields as shop_fields
from shopkit.fields import RequestSchema


class NewUserSchema(RequestSchema):
    """Body of POST /users."""

    name = shop_fields.text(1, 100, required=True)
    email = shop_fields.email(required=True)


class ListUsersQuery(RequestSchema):
    """Query string of GET /users."""

    limit = shop_fields.limit(default=50, maximum=200)
