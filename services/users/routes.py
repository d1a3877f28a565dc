"""HTTP API of the users service: thin views over `users.services`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from shopkit.web import found_or_404, json_error, load_args, load_body

from users import services
from users.schemas import ListUsersQuery, NewUserSchema

bp = Blueprint("users", __name__)


@bp.get("/users")
def list_users() -> Any:
    """200 with a JSON list of users, oldest first (?limit, 1..200, default 50)."""
    query = load_args(ListUsersQuery())
    return [user.to_json() for user in services.list_users(query["limit"])]


@bp.get("/users/<id:user_id>")
def get_user(user_id: int) -> Any:
    """200 with the user; 404 if there is none."""
    return found_or_404(services.get_user(user_id), "user not found", id=user_id)


@bp.post("/users")
def create_user() -> Any:
    """201 with the new user; 400 for an invalid body; 409 if the email is taken."""
    data = load_body(NewUserSchema())
    try:
        user = services.register_user(data["name"], data["email"])
    except services.EmailTaken:
        return json_error(409, "email already registered", email=data["email"])
    return user.to_json(), 201
