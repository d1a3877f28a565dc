"""The dashboard's parts without a stack: which buttons fit the system, the
figures the charts draw, the breaker states the edges show, and the server
that answers the page (POST guards, errors, the shared event stream).

The running demo, in Chromium against the real stack, is tested in
tests/integration/test_dashboard.py."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from chaos.dashboard.controls import catalogue
from chaos.dashboard.feed import Feed, figures
from chaos.dashboard.server import DashboardServer
from chaos.dashboard.session import ActionError
from chaos.history import BreakerInfo, History, Request, Transition


def req(route: str, latency: float, status: int | None = 200, fallback: str | None = None, at: float = 100.0) -> Request:
    return Request(route, "GET", "/", at - latency, at - latency, at, status, None if status else "connection", fallback)


def test_every_service_gets_kill_pause_and_500s_and_every_edge_latency_down_reset(system):
    controls = catalogue(system)
    agents = [name for name, spec in system.services.items() if spec.agent is not None]
    assert "redis" in system.services and "redis" not in agents  # a unit with no agent: no 500s to ask it for
    for service in system.services:
        assert {f"kill:{service}", f"pause:{service}"} <= set(controls)
        assert (f"http_error:{service}" in controls) == (service in agents)
    for edge in system.edges:
        assert {f"latency:{edge}", f"down:{edge}", f"reset_peer:{edge}"} <= set(controls)
    kill = controls["kill:orders"]
    assert kill.label == "kill orders" and kill.fault.kind == "kill" and kill.fault.service == "orders"
    assert controls["latency:gateway->orders"].fault.latency == 3000  # three times the read timeout: the cascade
    assert len(controls) == 2 * len(system.services) + len(agents) + 3 * len(system.edges)


def test_without_an_agent_a_service_gets_no_http_faults(system):
    spec = system.spec.model_copy(update={"services": {
        name: s.model_copy(update={"agent": None}) if name == "orders" else s for name, s in system.spec.services.items()}})
    system.spec = spec
    assert "http_error:orders" not in catalogue(system) and "kill:orders" in catalogue(system)


def test_figures_are_the_rate_shares_and_latency_of_the_window():
    reqs = [req("user", 0.010)] * 6 + [req("user", 0.002, fallback="breaker")] * 3 + [req("user", 1.0, status=None)]
    f = figures(reqs, 2.0)
    assert f["rate"] == 5.0 and f["n"] == 10
    assert (f["ok"], f["fallback"], f["errors"]) == (0.6, 0.3, 0.1)
    assert f["p50"] == 10.0 and f["p99"] > 900
    assert figures([], 1.0)["p99"] is None and figures([], 1.0)["rate"] == 0.0


@dataclass
class FakeSession:
    """What the feed and the server read of a DemoSession, and what they asked of it."""

    system: Any
    history: History = field(default_factory=History)
    started_at: float = 0.0
    breakers: str = "on"
    runtime_kind: str = "local"
    scenario: Any = None
    active: dict = field(default_factory=dict)
    controls: dict = field(default_factory=dict)
    scenarios: list = field(default_factory=lambda: ["order-down"])
    rate: float = 30.0
    changed: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    calls: list = field(default_factory=list)
    refuse: str | None = None
    stopping: bool = False

    def apply(self, control: str) -> str:
        if self.refuse:
            raise ActionError(self.refuse)
        self.calls.append(("apply", control))
        return f"applied {control}"

    def revert(self, control: str) -> str:
        self.calls.append(("revert", control))
        return f"reverted {control}"

    def stop(self) -> None:
        self.calls.append(("stop",))


def test_edges_show_what_the_watcher_saw_and_off_when_an_agent_says_so(system):
    session = FakeSession(system, started_at=time.time() - 5)
    now = time.time()
    session.history.append(BreakerInfo("gateway->orders", "closed", 5, 5.0, True, now - 4))
    session.history.append(BreakerInfo("gateway->users", "closed", 5, 5.0, False, now - 4))
    session.history.append(Transition("gateway->orders", "closed", "open", now - 1, now - 1))
    for i in range(20):
        session.history.append(req("user-orders", 0.002, fallback="breaker", at=now - 0.05 * i))
    feed = Feed(session)  # type: ignore[arg-type]
    feed._compute()
    state = json.loads(feed.text)
    edges = {e["name"]: e for e in state["edges"]}
    assert edges["gateway->orders"]["state"] == "open" and edges["gateway->orders"]["since"] == pytest.approx(now - 1)
    assert edges["gateway->users"]["state"] == "off"  # the agent reports its breakers disabled
    assert edges["orders->inventory"]["state"] == "unknown"  # never seen: not drawn closed
    assert state["routes"]["user-orders"]["fallback"] == 1.0 and state["routes"]["user"]["n"] == 0
    assert state["timeline"][-1]["text"] == "gateway->orders  closed -> open"
    assert state["points"] and state["points"][-1]["routes"]["user-orders"][0] == 2.0


class FakeFeed:
    stopped = False

    def __init__(self) -> None:
        self.seq = 0

    def wait(self, after: int, timeout: float) -> tuple[int, str]:
        time.sleep(0.05)
        self.seq += 1
        return self.seq, json.dumps({"tick": self.seq})

    def history_snapshot(self) -> dict[str, Any]:
        return {"points": []}

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def served(system):
    session = FakeSession(system)
    server = DashboardServer(session, FakeFeed())  # type: ignore[arg-type]
    server.start()
    yield server, session
    server.stop()


def post(server: DashboardServer, path: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> requests.Response:
    sent = {"X-Chaos-Demo": "1", "Content-Type": "application/json", **(headers or {})}
    return requests.post(server.url.rstrip("/") + path, data=raw if raw is not None else json.dumps(body or {}),
                         headers=sent, timeout=5)


def test_a_post_from_the_page_presses_the_button(served):
    server, session = served
    r = post(server, "/api/action", {"id": "kill:orders", "op": "apply"}, {"Origin": server.url.rstrip("/")})
    assert r.status_code == 200 and r.json() == {"done": "applied kill:orders"}
    assert post(server, "/api/action", {"id": "kill:orders", "op": "revert"}).status_code == 200
    assert post(server, "/api/stop").status_code == 200
    assert session.calls == [("apply", "kill:orders"), ("revert", "kill:orders"), ("stop",)]


@pytest.mark.parametrize("headers, why", [
    ({"X-Chaos-Demo": ""}, "missing header X-Chaos-Demo"),
    ({"Origin": "http://evil.example"}, "cross-site request from http://evil.example"),
    ({"Origin": "null"}, "cross-site request"),
    ({"Host": "evil.example:80"}, "is not this dashboard"),
])
def test_a_post_another_site_could_send_is_refused_and_does_nothing(served, headers, why):
    server, session = served
    r = post(server, "/api/action", {"id": "kill:orders", "op": "apply"}, headers)
    assert r.status_code == 403 and why in r.json()["error"], r.text
    assert session.calls == []


def test_what_cannot_be_done_is_answered_with_why(served):
    server, session = served
    session.refuse = "kill orders is already on"
    r = post(server, "/api/action", {"id": "kill:orders", "op": "apply"})
    assert r.status_code == 409 and r.json()["error"] == "kill orders is already on"
    assert post(server, "/api/action", {"id": "kill:orders", "op": "explode"}).status_code == 409
    assert post(server, "/api/action", raw=b"{not json").status_code == 400
    assert post(server, "/api/action", raw=b"[1, 2]").status_code == 400
    assert post(server, "/api/action", raw=b"{}" + b" " * 5000).status_code == 400
    assert post(server, "/api/nothing").status_code == 404


def test_the_page_and_its_files_are_served_with_a_policy_that_forbids_other_origins(served):
    server, _ = served
    page = requests.get(server.url, timeout=5)
    assert page.status_code == 200 and "/dashboard.js" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for name in ("dashboard.js", "dashboard.css"):
        assert requests.get(server.url + name, timeout=5).status_code == 200
    info = requests.get(server.url + "api/info", timeout=5).json()
    assert info["entrypoint"] == "gateway" and info["scenarios"] == ["order-down"]
    assert info["routes"]["place-order"] == ["inventory", "orders"]


def test_every_viewer_gets_the_same_snapshot(system):
    feed = Feed(FakeSession(system, started_at=time.time()))  # type: ignore[arg-type]
    seen: list[tuple[int, str]] = []
    waiters = [threading.Thread(target=lambda: seen.append(feed.wait(0, timeout=5))) for _ in range(3)]
    for t in waiters:
        t.start()
    feed._compute()
    for t in waiters:
        t.join()
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0][0] == 1


def test_the_state_is_an_event_stream(served):
    server, _ = served
    got = []
    for _ in range(2):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/api/events")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
        got.append(response.read1(200).decode())
        conn.close()
    assert all(chunk.startswith("id: ") and '\ndata: {"tick": ' in chunk for chunk in got), got
