"""Defaults of the notifications worker. Each can be overridden by `SHOP_<KEY>`
in the environment (see shopkit.config)."""

DEFAULTS = {
    "SERVICE_NAME": "notifications",
    # The SMTP sink, through its Toxiproxy proxy.
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 6122,
    "SMTP_TIMEOUT": 2.0,
    "MAIL_FROM": "shop@example.test",
    # A task keeps retrying a failing send in place, backing off from
    # RETRY_FIRST doubling up to RETRY_MAX seconds, for RETRY_BUDGET seconds
    # in all; then it hands the message back to the broker (see worker.py).
    "RETRY_FIRST": 0.25,
    "RETRY_MAX": 4.0,
    "RETRY_BUDGET": 12.0,
    # The broker takes a task back from a worker that has not acknowledged it
    # for this long (Redis transport's visibility timeout): how soon a task of
    # a killed worker is delivered again. Above RETRY_BUDGET plus a send.
    "VISIBILITY_TIMEOUT": 20.0,
    "CONCURRENCY": 8,
}
