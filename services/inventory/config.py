"""Defaults of the inventory service. Each can be overridden by `SHOP_<KEY>`
in the environment or by `test_config` (see shopkit.config)."""

DEFAULTS = {
    "SERVICE_NAME": "inventory",
    # SKU-1..SKU-5 get this much stock when the items table is empty: enough
    # that a chaos run never fails for lack of stock, only for faults.
    "SEED_STOCK": 1_000_000,
}

SEED_SKUS = [f"SKU-{n}" for n in range(1, 6)]
