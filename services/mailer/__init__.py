"""The SMTP sink: a real SMTP server (aiosmtpd) that keeps every message it
receives and lists them over HTTP, so the toolkit can read what arrived.

Run from the services folder as `python -m mailer`, with PORT (HTTP),
SHOP_SMTP_PORT and SHOP_DATABASE in the environment.

HTTP (the contract the toolkit's `deliveries` check reads, docs/system-file.md):

- GET /health: 200 `{"status": "ok"}`;
- GET /messages[?key=K]: 200 `{"messages": [...], "count": N}`, every message
  received (or those whose X-Client-Ref is K), oldest first, each
  `{"id", "outbox_id", "message", "key", "to", "received_at"}`;
  `received_at` is the sink's `time.time()` when the DATA command ended.

Messages are kept in SQLite (WAL), so a sink that is killed and restarted
still lists what it had accepted: a message answered 250 is never lost here.
The sink never deduplicates: two messages with one X-Outbox-Id are listed
twice, because counting them is the point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request

from mailer import store


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The sink's HTTP app over the store at config DATABASE."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_mapping(DATABASE="mailer.sqlite3")
    app.config.from_prefixed_env("SHOP")
    if test_config:
        app.config.from_mapping(test_config)
    store.init(app.config["DATABASE"])

    @app.get("/health")
    def health() -> Any:
        return {"status": "ok"}

    @app.get("/messages")
    def messages() -> Any:
        key = request.args.get("key")
        found = store.listing(app.config["DATABASE"], key)
        return jsonify(messages=found, count=len(found))

    return app
