"""The deliveries check: every acknowledged promise arrives once, in time;
missing, doubled and late fail; an unread sink is unknown. And the sink
reader the engine uses, against a real HTTP server."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaos.checks import evaluate_all
from chaos.checks.deliveries import Deliveries
from chaos.clients.http import Session
from chaos.engine.deliveries import collect, read_sink
from chaos.history import FaultEvent, History, Mark, Request, SinkRead
from chaos.spec.system import PromiseSpec, WriteSpec

T0 = 1_000_000.0
CHECK = Deliveries(kind="deliveries", within=20)


@pytest.fixture
def promising(system):
    """The shop's system with place-order promising a confirmation at the mailer."""
    s = copy.deepcopy(system)
    route = s.spec.routes["place-order"]
    s.spec.routes["place-order"] = route.model_copy(update={
        "promises": PromiseSpec(message="order-confirmation", key="client_ref", sink="gateway"),
        "write": route.write or WriteSpec(id="id", read="/x/{id}", key="client_ref"),
    })
    return s


def history(acked: int = 10, messages: dict[int, list[float]] | None = None, sink_ok: bool = True) -> History:
    """Orders acknowledged at 1 s apart during a fault from 2 s to 8 s; by
    default each confirmation arrives once, 1 s after the fault ends."""
    h = History()
    h.append(Mark("load-start", T0))
    h.append(FaultEvent(0, "start", "down", "redis down", ("redis",), T0 + 2))
    h.append(FaultEvent(0, "end", "down", "redis down", ("redis",), T0 + 8))
    for i in range(acked):
        h.append(Request("place-order", "POST", "/api/orders", T0 + i, T0 + i, T0 + i + 0.01, 201,
                         write_id=str(i), write_key=f"ref-{i}"))
    # A timed-out request: its write may have committed, but nothing was promised.
    h.append(Request("place-order", "POST", "/api/orders", T0, T0, T0 + 2, None, "timeout", write_key="ref-x"))
    messages = messages if messages is not None else {i: [T0 + 9] for i in range(acked)}
    listed = tuple(("order-confirmation", f"ref-{i}", f"orders-{i}", at) for i, ats in messages.items() for at in ats)
    h.append(SinkRead("gateway", sink_ok, "ok" if sink_ok else "GET http://x/messages: ConnectionError", listed if sink_ok else (), T0 + 30))
    return h


def judge(h: History, system) -> object:
    (verdict,) = evaluate_all([CHECK], h, system, {"place-order": 1})
    return verdict


def test_every_promise_delivered_once_passes(promising) -> None:
    v = judge(history(), promising)
    assert v.status == "pass", v
    assert "10 messages promised (order-confirmation 10): 10 delivered once, 0 missing, 0 doubled" in v.evidence
    assert v.figures["last_after_due"] == pytest.approx(1.0, abs=0.01)


def test_a_lost_message_fails_naming_it(promising) -> None:
    v = judge(history(messages={i: [T0 + 9] for i in range(9)}), promising)
    assert v.status == "fail"
    assert "1 missing" in v.evidence and "order-confirmation ref-9" in v.evidence


def test_a_doubled_message_fails_naming_its_outbox_id(promising) -> None:
    v = judge(history(messages={**{i: [T0 + 9] for i in range(10)}, 3: [T0 + 9, T0 + 12]}), promising)
    assert v.status == "fail"
    assert "1 doubled" in v.evidence and "ref-3 x2 (outbox ids orders-3)" in v.evidence


def test_a_message_later_than_the_bound_after_the_faults_fails(promising) -> None:
    v = judge(history(messages={**{i: [T0 + 9] for i in range(10)}, 4: [T0 + 8 + 25]}), promising)
    assert v.status == "fail" and "1 arrived later than 20 s after due" in v.evidence


def test_an_unacknowledged_request_promised_nothing(promising) -> None:
    h = history()
    h.append(SinkRead("gateway", True, "ok", (("order-confirmation", "ref-x", "orders-99", T0 + 9),), T0 + 30))
    v = judge(h, promising)
    assert v.status == "pass" and "1 more for requests never acknowledged" in v.evidence


def test_an_unread_sink_is_unknown_with_the_reason(promising) -> None:
    v = judge(history(sink_ok=False), promising)
    assert v.status == "unknown" and "could not read sink gateway: GET http://x/messages: ConnectionError" in v.evidence
    h = history()
    h._events = [e for e in h._events if not isinstance(e, SinkRead)]
    assert judge(h, promising).status == "unknown"


def test_blind_on_a_system_whose_routes_promise_nothing(system) -> None:
    s = copy.deepcopy(system)
    for name, route in list(s.spec.routes.items()):
        s.spec.routes[name] = route.model_copy(update={"promises": None})
    (v,) = evaluate_all([CHECK], history(), s, {"place-order": 1})
    assert v.status == "unknown" and "promises a message" in v.evidence
    (v,) = evaluate_all([CHECK], history(), system, {"user": 1})
    assert v.status == "unknown" and "sends none of the routes that promise a message (place-order, register)" in v.evidence


def test_a_promise_must_be_keyed_by_the_write_key_and_name_a_known_sink(tmp_path) -> None:
    import shutil

    from chaos.errors import ConfigError
    from chaos.spec import load_system

    root = Path(__file__).resolve().parents[2]
    for name in ("toxiproxy", "compose.yaml"):
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, tmp_path / name)
    text = (root / "system.yaml").read_text()
    bad_key = text.replace("promises: {message: welcome, key: email, sink: mailer}", "promises: {message: welcome, key: name, sink: mailer}")
    (tmp_path / "system.yaml").write_text(bad_key)
    with pytest.raises(ConfigError, match=r"system.yaml:\d+: routes.register.promises.key: 'name' must also be the route's write key"):
        load_system(tmp_path / "system.yaml")
    bad_sink = text.replace("promises: {message: welcome, key: email, sink: mailer}", "promises: {message: welcome, key: email, sink: postbox}")
    (tmp_path / "system.yaml").write_text(bad_sink)
    with pytest.raises(ConfigError, match=r"routes.register.promises.sink: unknown service 'postbox'"):
        load_system(tmp_path / "system.yaml")


def test_a_units_other_ports_move_with_a_port_offset_and_its_proxy_follows(system) -> None:
    from chaos.spec.ports import shifted

    moved = shifted(system, 1000)
    assert moved.services["mailer"].ports == {"smtp": 6122}
    assert moved.services["mailer"].env["SHOP_SMTP_PORT"] == "6122"
    assert moved.proxies["notifications_mailer"].upstream == "127.0.0.1:6122"
    assert moved.services["notifications"].env["SHOP_SMTP_PORT"] == "7122"  # the proxy's own listen port


def test_history_round_trips_a_sink_read(tmp_path) -> None:
    h = history()
    h.write_jsonl(tmp_path / "h.jsonl")
    (read,) = History.read_jsonl(tmp_path / "h.jsonl").of(SinkRead)
    assert read == h.of(SinkRead)[0]


class _Sink(BaseHTTPRequestHandler):
    listing: bytes = b""

    def do_GET(self) -> None:  # noqa: N802
        body = self.listing
        self.send_response(200 if body else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_read_sink_parses_a_listing_and_names_a_bad_one(sink_server) -> None:
    url = f"http://127.0.0.1:{sink_server.server_port}/messages"
    _Sink.listing = json.dumps({"messages": [{"message": "welcome", "key": "a@x", "outbox_id": "users-1",
                                              "received_at": 5.0}]}).encode()
    with Session() as s:
        assert read_sink(s, url) == ((("welcome", "a@x", "users-1", 5.0),), "")
        _Sink.listing = b'{"nope": 1}'
        listed, why = read_sink(s, url)
        assert listed is None and "not a listing of messages" in why
        _Sink.listing = b""
        assert read_sink(s, url) == (None, f"GET {url} answered 500")


def test_collect_stops_waiting_once_every_promise_arrived(promising, sink_server, monkeypatch) -> None:
    import time

    gateway = promising.spec.services["gateway"]
    promising.spec.services["gateway"] = gateway.model_copy(update={"port": sink_server.server_port})
    monkeypatch.setattr("chaos.engine.deliveries.SETTLE", 0.1)
    now = time.time()
    h = History()
    h.append(Request("place-order", "POST", "/api/orders", now, now, now, 201, write_id="1", write_key="ref-1"))
    _Sink.listing = json.dumps({"messages": [{"message": "order-confirmation", "key": "ref-1", "outbox_id": "orders-1",
                                              "received_at": now}]}).encode()
    began = time.monotonic()
    assert collect(promising, h, within=30) == 1
    assert time.monotonic() - began < 5
    (read,) = h.of(SinkRead)
    assert read.ok and read.messages == (("order-confirmation", "ref-1", "orders-1", now),)


def test_same_id_duplicates_pass_only_when_allowed_and_only_under_one_outbox_id(promising) -> None:
    h = history(messages={**{i: [T0 + 9] for i in range(10)}, 3: [T0 + 9, T0 + 12]})
    lenient = Deliveries(kind="deliveries", within=20, duplicates="same-id")
    (v,) = evaluate_all([lenient], h, promising, {"place-order": 1})
    assert v.status == "pass" and "1 sent again under the same outbox id" in v.evidence and "orders-3" in v.evidence
    assert v.figures["redelivered_same_id"] == 1 and v.figures["doubled"] == 0
    # The promise stored twice (two outbox rows, two ids) is doubled whatever the option.
    h.append(SinkRead("gateway", True, "ok", (("order-confirmation", "ref-5", "orders-55", T0 + 10),), T0 + 30))
    (v,) = evaluate_all([lenient], h, promising, {"place-order": 1})
    assert v.status == "fail" and "1 doubled" in v.evidence and "ref-5 x2 (outbox ids orders-5, orders-55)" in v.evidence
