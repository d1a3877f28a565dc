"""Defaults of the orders service. Each can be overridden by `SHOP_<KEY>`
in the environment or by `test_config` (see shopkit.config)."""

DEFAULTS = {
    "SERVICE_NAME": "orders",
    # Half the gateway's read timeout: when inventory hangs, orders gives up,
    # degrades and still answers before the gateway gives up on orders.
    "READ_TIMEOUT": 0.5,
}

# How many orders GET /orders?user_id=N returns, newest first.
USER_ORDERS_LIMIT = 20
