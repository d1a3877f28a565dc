"""Where the sink keeps what it received, and the SMTP handler that writes it."""

from __future__ import annotations

import os
import sqlite3
import time
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   TEXT,
    message     TEXT,
    key         TEXT,
    recipients  TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_key ON messages (key);
"""


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    return db


def init(path: str) -> None:
    """Create the store at `path` if it is missing."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = _connect(path)
    try:
        db.executescript(SCHEMA)
    finally:
        db.close()


def record(path: str, data: bytes, recipients: list[str]) -> None:
    """Keep one received message (committed before the 250 goes out)."""
    mail = message_from_bytes(data, policy=default_policy)
    db = _connect(path)
    try:
        db.execute(
            "INSERT INTO messages (outbox_id, message, key, recipients, received_at) VALUES (?, ?, ?, ?, ?)",
            (mail.get("X-Outbox-Id"), mail.get("X-Message"), mail.get("X-Client-Ref"), ",".join(recipients), time.time()),
        )
    finally:
        db.close()


def listing(path: str, key: str | None = None) -> list[dict[str, Any]]:
    """Every message received (or those with this key), oldest first."""
    db = _connect(path)
    try:
        sql, params = "SELECT * FROM messages ORDER BY id", ()
        if key is not None:
            sql, params = "SELECT * FROM messages WHERE key = ? ORDER BY id", (key,)
        return [
            {"id": r["id"], "outbox_id": r["outbox_id"], "message": r["message"], "key": r["key"],
             "to": r["recipients"].split(","), "received_at": r["received_at"]}
            for r in db.execute(sql, params).fetchall()
        ]
    finally:
        db.close()


class Handler:
    """aiosmtpd handler: accept every message and keep it."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        record(self.path, envelope.original_content or envelope.content, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"
