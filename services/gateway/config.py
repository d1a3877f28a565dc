"""Defaults of the gateway. Each can be overridden by `SHOP_<KEY>` in the
environment or by `test_config` (see shopkit.config)."""

DEFAULTS = {
    "SERVICE_NAME": "gateway",
    # Longer than orders' own read timeout (0.5 s), so a degraded answer from
    # orders arrives before the gateway gives up on it.
    "READ_TIMEOUT": 1.0,
}
