"""The sink's HTTP listing."""

from __future__ import annotations

from mailer import create_app, store


def test_lists_messages_by_key(tmp_path) -> None:
    app = create_app({"DATABASE": str(tmp_path / "m.sqlite3")})
    mail = b"X-Outbox-Id: orders-1\r\nX-Message: order-confirmation\r\nX-Client-Ref: r1\r\nSubject: x\r\n\r\nbody\r\n"
    store.record(app.config["DATABASE"], mail, ["user-1@example.test"])
    client = app.test_client()
    assert client.get("/health").json == {"status": "ok"}
    listed = client.get("/messages").json
    assert listed["count"] == 1 and listed["messages"][0]["outbox_id"] == "orders-1"
    assert client.get("/messages?key=r1").json["count"] == 1
    assert client.get("/messages?key=other").json == {"count": 0, "messages": []}
