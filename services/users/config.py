"""Defaults of the users service. Each can be overridden by `SHOP_<KEY>`
in the environment or by `test_config` (see shopkit.config)."""

DEFAULTS = {
    "SERVICE_NAME": "users",
    # Users 1..N ("user-N", "user-N@example.test") created when the table is empty.
    "SEED_USERS": 20,
}
