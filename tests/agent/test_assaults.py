"""chaos.agent.assaults (the stand-alone Assaults) on a bare Flask app: off it adds nothing; on, each kind
works, the share holds, the path filter and the exempt paths are honoured,
and only loopback callers may control it."""

from __future__ import annotations

import ast
import random
import threading
import time
from pathlib import Path

import pytest
from flask import Flask, jsonify

from chaos.agent.assaults import Assaults, state_of, switched_on

from .helpers import ContractClient

ROOT = Path(__file__).resolve().parents[2]
URL = "/_chaos/assaults"
REMOTE = {"REMOTE_ADDR": "192.0.2.7"}


def make_app(switch: object = "on", seed: int | None = 7, **kwargs) -> Flask:
    app = Flask("demo")
    if switch is not None:
        app.config["CHAOS_ASSAULTS"] = switch

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/breakers")
    @app.get("/breakers/transitions")
    def breakers():
        return {"breakers": []}

    @app.route("/orders", methods=["GET", "POST"])
    @app.get("/orders/<int:n>")
    @app.get("/users")
    def view(n: int = 0):
        return jsonify(ok=True)

    @app.errorhandler(500)
    def internal(exc):
        return {"error": "internal server error", "handled_by": "app"}, 500

    Assaults(app, rng=random.Random(seed) if seed is not None else None, **kwargs)
    app.test_client_class = ContractClient  # every reply checked against the contract
    return app


@pytest.fixture
def client():
    return make_app().test_client()


def put(client, **body):
    response = client.put(URL, json=body)
    assert response.status_code == 200, response.json
    return response.json


# ------------------------------------------------------------ switched off


@pytest.mark.parametrize("switch", [None, "off", "false", "0", False])
def test_off_registers_no_route_and_no_hook(monkeypatch, switch):
    monkeypatch.delenv("CHAOS_ASSAULTS", raising=False)
    bare = Flask("demo")
    app = Flask("demo")
    if switch is not None:
        app.config["CHAOS_ASSAULTS"] = switch
    assert Assaults(app).init_app(app) is False
    assert [r.rule for r in app.url_map.iter_rules()] == [r.rule for r in bare.url_map.iter_rules()]
    assert app.before_request_funcs == {} and app.blueprints == {} and state_of(app) is None
    assert app.test_client().put(URL, json={"kind": "error"}).status_code == 404


def test_the_environment_switches_it_on_when_the_config_is_silent(monkeypatch):
    monkeypatch.setenv("CHAOS_ASSAULTS", "on")
    assert switched_on(Flask("a"))
    app = Flask("b")
    app.config["CHAOS_ASSAULTS"] = "off"  # the app's config wins over the environment
    assert not switched_on(app)


def test_a_misspelt_switch_stops_the_app_at_start_up():
    with pytest.raises(ValueError, match="CHAOS_ASSAULTS='onn'"):
        make_app("onn")


def test_installing_twice_is_refused():
    app = make_app()
    with pytest.raises(RuntimeError, match="already installed"):
        Assaults(app)


def test_the_module_imports_only_flask_and_the_standard_library():
    """So the agent's `agent` extra (Flask and prometheus-client) is all it needs."""
    tree = ast.parse((ROOT / "chaos" / "agent" / "assaults.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__", "flask", "chaos"} <= {
        "math", "os", "random", "re", "threading", "time", "collections", "dataclasses", "typing", "pathlib"
    }, imported


# ------------------------------------------------------------ control endpoint


def test_control_answers_loopback_only():
    client = make_app().test_client()
    for method in ("get", "put", "post", "delete"):
        refused = getattr(client, method)(URL, json={"kind": "error"}, environ_base=REMOTE)
        assert refused.status_code == 403 and "loopback" in refused.json["error"]
    assert client.get("/orders").status_code == 200  # nothing was set by the refused calls
    for addr in ("127.0.0.1", "::1"):
        assert client.get(URL, environ_base={"REMOTE_ADDR": addr}).status_code == 200


def test_state_set_read_and_stopped(client):
    assert client.get(URL).json == {"active": False, "assault": None, "since": None, "matched": 0, "injected": 0}
    state = put(client, kind="error", share=1, status=503, path="^/orders")
    assert state["active"] and state["assault"] == {"kind": "error", "share": 1.0, "status": 503, "path": "^/orders"}
    client.get("/orders")
    client.get("/users")
    assert client.get(URL).json | {"since": None} == {**state, "since": None, "matched": 1, "injected": 1}
    stopped = client.delete(URL).json
    assert stopped["active"] is False and stopped["stopped"]["injected"] == 1
    assert client.get("/orders").status_code == 200
    assert client.delete(URL).status_code == 200  # stopping twice is fine


def test_post_sets_an_assault_like_put(client):
    assert client.post(URL, json={"kind": "exception"}).status_code == 200
    assert client.get(URL).json["assault"]["kind"] == "exception"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"kind"}),
        ({"kind": "boom"}, {"kind"}),
        ({"kind": "error", "share": 1.5}, {"share"}),
        ({"kind": "error", "share": -0.1}, {"share"}),
        ({"kind": "error", "share": "0.5"}, {"share"}),
        ({"kind": "error", "share": True}, {"share"}),
        ({"kind": "error", "status": 404}, {"status"}),
        ({"kind": "error", "status": 600}, {"status"}),
        ({"kind": "error", "status": 500.0}, {"status"}),
        ({"kind": "error", "status": "500"}, {"status"}),
        ({"kind": "latency"}, {"latency_ms"}),
        ({"kind": "latency", "latency_ms": -1}, {"latency_ms"}),
        ({"kind": "latency", "latency_ms": 10**30}, {"latency_ms"}),
        ({"kind": "error", "latency_ms": 5}, {"latency_ms"}),
        ({"kind": "latency", "latency_ms": 5, "status": 503}, {"status"}),
        ({"kind": "error", "path": "("}, {"path"}),
        ({"kind": "error", "path": ""}, {"path"}),
        ({"kind": "error", "pth": "/orders"}, {"pth"}),
        ([{"kind": "error"}], {"_body"}),
        ("error", {"_body"}),
    ],
)
def test_bad_input_is_a_400_naming_the_fields(client, body, fields):
    response = client.put(URL, json=body)
    assert response.status_code == 400
    assert response.json["error"] == "invalid assault" and set(response.json["fields"]) == fields
    assert client.get(URL).json["active"] is False


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"kind": "error"}', "text/plain"),  # valid JSON, but not sent as JSON
        (b"", None),
    ],
)
def test_a_body_that_is_no_json_object_is_a_400(client, raw, content_type):
    response = client.put(URL, data=raw, content_type=content_type)
    assert response.status_code == 400 and response.json["fields"] == {"_body": ["Request body must be a JSON object."]}


# ------------------------------------------------------------ the kinds


def test_error_answers_the_chosen_status_as_json(client):
    put(client, kind="error", status=503)
    response = client.get("/orders")
    assert response.status_code == 503
    assert response.json == {"error": "injected fault", "injected": True, "kind": "error", "status": 503}
    assert response.headers["X-Chaos-Assault"] == "error"


def test_exception_is_answered_by_the_apps_500_handler():
    app = make_app()
    client = app.test_client()
    put(client, kind="exception")
    response = client.post("/orders", json={})
    assert response.status_code == 500 and response.json["handled_by"] == "app"


def test_latency_delays_the_view_and_then_runs_it(client):
    put(client, kind="latency", latency_ms=150)
    started = time.perf_counter()
    response = client.get("/orders")
    assert time.perf_counter() - started >= 0.15
    assert response.status_code == 200 and response.json == {"ok": True}


def test_share_zero_touches_nothing_but_counts_matches(client):
    put(client, kind="error", share=0)
    assert all(client.get("/orders").status_code == 200 for _ in range(200))
    assert client.get(URL).json["matched"] == 200 and client.get(URL).json["injected"] == 0


@pytest.mark.parametrize("share", [0.3, 0.9])
def test_the_share_holds_statistically(share):
    # Unseeded on purpose: the bound must hold for any draw. With n=2000 the
    # standard deviation of the observed share is at most 0.011, so +-0.05 is
    # more than 4 sigma: a false failure is about one run in 30,000.
    client = make_app(seed=None).test_client()
    put(client, kind="error", share=share)
    failed = sum(client.get("/orders").status_code == 500 for _ in range(2000))
    assert share - 0.05 <= failed / 2000 <= share + 0.05, failed
    assert client.get(URL).json["injected"] == failed


def test_a_seeded_rng_makes_the_draws_reproducible():
    def pattern():
        client = make_app(seed=42).test_client()
        put(client, kind="error", share=0.5)
        return [client.get("/orders").status_code for _ in range(50)]

    assert pattern() == pattern() and len(set(pattern())) == 2


# ------------------------------------------------------------ what is assaulted


def test_the_path_regex_is_matched_at_the_start_of_the_path(client):
    put(client, kind="error", path="/orders")
    assert client.get("/orders").status_code == 500
    assert client.get("/orders/12").status_code == 500
    assert client.get("/users").status_code == 200
    put(client, kind="error", path=r"^/orders/\d+$")
    assert client.get("/orders/12").status_code == 500
    assert client.get("/orders").status_code == 200


def test_health_breakers_and_the_control_endpoint_are_never_assaulted(client):
    put(client, kind="exception")
    for path in ("/health", "/breakers", "/breakers/transitions"):
        assert client.get(path).status_code == 200, path
    assert client.get(URL).status_code == 200
    put(client, kind="error", path="^/")  # even when the path filter names them
    assert client.get("/health").status_code == 200
    assert client.get(URL).json["matched"] == 0
    assert client.get("/nothing-here").status_code == 500  # unrouted paths are fair game


def test_exempt_and_url_can_be_chosen():
    app = make_app(url="/ops/chaos", exempt=("/users",))
    client = app.test_client()
    assert client.put("/ops/chaos", json={"kind": "error"}).status_code == 200
    assert client.get("/users").status_code == 200
    assert client.get("/health").status_code == 500  # no longer exempt
    assert client.get(URL).status_code == 500  # the default URL is just a path now


def test_concurrent_requests_keep_the_counters_consistent():
    app = make_app(seed=None)
    state = state_of(app)
    client = app.test_client()
    put(client, kind="error", share=0.5)
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer():
        c = app.test_client()
        for _ in range(150):
            status = c.get("/orders").status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = state.snapshot()
    assert snap["matched"] == len(statuses) == 900
    assert snap["injected"] == statuses.count(500)
