"""The agent as an app sees it: off by default, settings, access rules,
errors, watching, the library-specific observations, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import circuitbreaker
import pybreaker
import pytest
from flask import Flask

from chaos.agent import ChaosAgent, mark_fallback
from chaos.contract import CONTRACT_VERSION, NAMES, schema

from .helpers import RESET, breaker_of, contract_client, transitions_of

ROOT = Path(__file__).resolve().parents[2]
REMOTE = {"REMOTE_ADDR": "192.0.2.7"}
READS = ("/_chaos", "/_chaos/breakers", "/_chaos/breakers/transitions", "/_chaos/metrics")


@pytest.fixture(autouse=True)
def _no_agent_environment(monkeypatch):
    for key in ("CHAOS_AGENT", "CHAOS_AGENT_PREFIX", "CHAOS_AGENT_TOKEN", "CHAOS_BREAKERS", "CHAOS_SERVICE"):
        monkeypatch.delenv(key, raising=False)


def app_with(**config) -> Flask:
    app = Flask("demo")
    app.config.update(config)
    app.add_url_rule("/health", "health", lambda: {"status": "ok"})
    app.add_url_rule("/orders", "orders", lambda: {"orders": []})
    return app


# ------------------------------------------------------------ off unless on


@pytest.mark.parametrize("switch", [None, "off", "false", "0", "no", "", False])
def test_off_by_default_registers_nothing_and_leaves_breakers_untouched(switch):
    bare = app_with()
    config = {} if switch is None else {"CHAOS_AGENT": switch}
    app = app_with(**config)
    pb = pybreaker.CircuitBreaker(name="a")
    cb = circuitbreaker.CircuitBreaker(name="b")
    agent = ChaosAgent(app)
    assert agent.watch(pb) is pb and agent.watch(cb) is cb
    assert not agent.enabled and agent.breakers == [pb, cb]
    assert [r.rule for r in app.url_map.iter_rules()] == [r.rule for r in bare.url_map.iter_rules()]
    assert app.before_request_funcs == {} and app.after_request_funcs == {} and app.blueprints == {}
    assert app.extensions == bare.extensions
    assert "call" not in vars(pb) and type(cb) is circuitbreaker.CircuitBreaker
    assert app.test_client().get("/_chaos").status_code == 404


def test_the_environment_switches_it_on_and_the_app_config_wins(monkeypatch):
    monkeypatch.setenv("CHAOS_AGENT", "yes")
    assert ChaosAgent(app_with()).enabled
    assert not ChaosAgent(app_with(CHAOS_AGENT="off")).enabled


@pytest.mark.parametrize("key", ["CHAOS_AGENT", "CHAOS_BREAKERS"])
def test_a_misspelt_switch_stops_the_app_at_start_up(key):
    config = {"CHAOS_AGENT": "on", key: "onn"}
    with pytest.raises(ValueError, match=f"{key}='onn'"):
        ChaosAgent(app_with(**config))


def test_prefix_service_and_watch_before_init_app():
    app = app_with(CHAOS_AGENT="on", CHAOS_AGENT_PREFIX="/ops/chaos/", CHAOS_SERVICE="orders")
    agent = ChaosAgent()
    breaker = agent.watch(pybreaker.CircuitBreaker(name="inventory"))
    assert agent.init_app(app) is True
    client = contract_client(app, "/ops/chaos")
    index = client.get("/ops/chaos").json
    assert index["service"] == "orders" and index["contract"] == CONTRACT_VERSION and index["token_required"] is False
    assert index["endpoints"] == {"breakers": "/ops/chaos/breakers", "transitions": "/ops/chaos/breakers/transitions",
                                  "assaults": "/ops/chaos/assaults", "metrics": "/ops/chaos/metrics"}
    assert [b["name"] for b in client.get("/ops/chaos/breakers").json["breakers"]] == ["inventory"]
    assert "call" in vars(breaker)
    assert client.get("/_chaos").status_code == 404


def test_the_service_name_defaults_to_the_import_name():
    client = contract_client(app_with(CHAOS_AGENT="on"))
    ChaosAgent(client.application)
    assert client.get("/_chaos").json["service"] == "demo"


def test_installing_twice_is_refused():
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    with pytest.raises(RuntimeError, match="already installed"):
        ChaosAgent(app)


# ------------------------------------------------------------ watching


def test_watch_refuses_what_it_cannot_watch():
    agent = ChaosAgent(app_with(CHAOS_AGENT="on"))
    with pytest.raises(TypeError, match=r"snapshot\(\), install\(recorder\), set_enabled\(bool\)"):
        agent.watch(object())
    with pytest.raises(ValueError, match="has no name"):
        agent.watch(pybreaker.CircuitBreaker())
    agent.watch(pybreaker.CircuitBreaker(), name="named-here")
    with pytest.raises(ValueError, match="'named-here' is watched already"):
        agent.watch(circuitbreaker.CircuitBreaker(name="named-here"))
    breaker = pybreaker.CircuitBreaker(name="x")
    agent.watch(breaker)
    with pytest.raises(ValueError, match="watched already"):
        agent.watch(breaker)


def test_a_pybreaker_subclass_overriding_call_keeps_its_call_and_listeners():
    class Audited(pybreaker.CircuitBreaker):
        def call(self, func, *args, **kwargs):
            self.audited = getattr(self, "audited", 0) + 1
            return super().call(func, *args, **kwargs)

    class Own(pybreaker.CircuitBreakerListener):
        changes: list = []

        def state_change(self, cb, old, new):
            self.changes.append(new.name)

    app = app_with(CHAOS_AGENT="on")
    breaker = Audited(fail_max=1, reset_timeout=30, name="audited", listeners=[Own()])
    ChaosAgent(app).watch(breaker)
    with pytest.raises(pybreaker.CircuitBreakerError):  # the tripping call, which ran: failed, not refused
        breaker.call(lambda: 1 / 0)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(lambda: 1)
    assert breaker.audited == 2 and Own.changes == ["open"]
    b = breaker_of(contract_client(app), "audited")
    assert b["state"] == "open" and b["calls"]["failed"] == 1 and b["calls"]["not_permitted"] == 1


def test_circuitbreaker_open_to_half_open_is_seen_by_polling_without_any_call(demos):
    demo = demos("circuitbreaker")
    demo.trip()
    assert transitions_of(demo.client) == [("closed", "open")]
    deadline = time.monotonic() + RESET + 2
    while transitions_of(demo.client) != [("closed", "open"), ("open", "half-open")]:
        assert time.monotonic() < deadline, transitions_of(demo.client)
        time.sleep(0.02)
    assert breaker_of(demo.client)["state"] == "half-open" and breaker_of(demo.client)["retry_at"] is None


def test_pybreaker_open_to_half_open_waits_for_a_call_and_retry_at_says_when(demos):
    demo = demos("pybreaker")
    demo.trip()
    time.sleep(RESET + 0.1)
    b = breaker_of(demo.client)
    assert b["state"] == "open" and b["retry_at"] < time.time()  # lazy: the next call is the trial
    assert transitions_of(demo.client) == [("closed", "open")]


def test_close_stops_the_polling_thread(demos):
    demo = demos("circuitbreaker")
    assert any(t.name == "chaos-agent-poll" for t in threading.enumerate())
    demo.agent.close()
    demo.agent.close()
    assert not any(t.name == "chaos-agent-poll" for t in threading.enumerate())


def test_a_circuitbreaker_monitor_reading_opened_is_no_refused_call(demos):
    demo = demos("circuitbreaker")
    demo.trip()
    assert demo.breaker.opened and list(circuitbreaker.CircuitBreakerMonitor.get_open())
    assert breaker_of(demo.client)["calls"]["not_permitted"] == 0


def test_a_fallback_function_counts_as_not_permitted(demos):
    app = app_with(CHAOS_AGENT="on")
    breaker = circuitbreaker.CircuitBreaker(failure_threshold=1, recovery_timeout=30, name="fb",
                                            fallback_function=lambda: "cached")
    agent = ChaosAgent(app)
    agent.watch(breaker)

    @breaker
    def fetch():
        raise ConnectionError

    with pytest.raises(ConnectionError):
        fetch()
    assert fetch() == "cached"
    assert breaker_of(contract_client(app), "fb")["calls"] == {"successful": 0, "failed": 1, "ignored": 0,
                                                                "not_permitted": 1}
    agent.close()


# ------------------------------------------------------------ fallback marking


def test_mark_fallback_sets_the_standard_headers():
    app = app_with()
    with app.test_request_context():
        response = mark_fallback(app.make_response({"cached": True}), "users", "timeout")
    assert response.headers["X-Fallback"] == "users" and response.headers["X-Fallback-Reason"] == "timeout"


def test_automatic_marking_leaves_marked_answers_and_500s_alone(demos):
    demo = demos("pybreaker")
    app, breaker = demo.app, demo.breaker
    demo.mode = "fail"

    def marked_by_hand():
        try:
            breaker.call(demo.fetch)
        except ConnectionError:
            return mark_fallback(app.make_response({"user": None}), "users-cache", "stale")

    def crash():
        breaker.call(demo.fetch)

    app.add_url_rule("/by-hand", "by_hand", marked_by_hand)
    app.add_url_rule("/crash", "crash", crash)
    by_hand = demo.client.get("/by-hand")
    assert by_hand.headers["X-Fallback"] == "users-cache" and by_hand.headers["X-Fallback-Reason"] == "stale"
    crashed = demo.client.get("/crash")
    assert crashed.status_code == 500 and "X-Fallback" not in crashed.headers
    assert demo.call() is None  # outside a request: recorded, nothing to mark


# ------------------------------------------------------------ access and errors


def test_reads_answer_anyone():
    app = app_with(CHAOS_AGENT="on", CHAOS_AGENT_TOKEN="s3cret")
    ChaosAgent(app)
    client = contract_client(app)
    for path in READS:
        assert client.get(path, environ_base=REMOTE).status_code == 200, path
    assert client.get("/_chaos", environ_base=REMOTE).json["token_required"] is True


@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
def test_control_needs_loopback_or_the_bearer_token(method):
    app = app_with(CHAOS_AGENT="on", CHAOS_AGENT_TOKEN="s3cret")
    ChaosAgent(app)
    client = contract_client(app)
    send = getattr(client, method)
    body = {"kind": "error", "share": 0}
    refused = send("/_chaos/assaults", json=body, environ_base=REMOTE)
    assert refused.status_code == 403 and "loopback" in refused.json["error"]
    wrong = send("/_chaos/assaults", json=body, environ_base=REMOTE, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json["error"] == "wrong bearer token"
    allowed = send("/_chaos/assaults", json=body, environ_base=REMOTE, headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 200
    assert send("/_chaos/assaults", json=body).status_code == 200  # loopback needs no token
    for addr in ("::1", "::ffff:127.0.0.1"):
        assert client.get("/_chaos/assaults", environ_base={"REMOTE_ADDR": addr}).status_code == 200


def test_without_a_token_only_loopback_controls():
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    client = contract_client(app)
    refused = client.put("/_chaos/assaults", json={"kind": "error"}, environ_base=REMOTE,
                         headers={"Authorization": "Bearer anything"})
    assert refused.status_code == 403 and "CHAOS_AGENT_TOKEN" in refused.json["error"]


@pytest.mark.parametrize("path", READS)
def test_writes_to_reads_are_refused_remotely_and_not_allowed_locally(path):
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    client = contract_client(app)
    assert client.post(path, environ_base=REMOTE).status_code == 403
    local = client.delete(path)
    assert local.status_code == 405 and local.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("query", "field"),
    [("after=-1", "after"), ("after=x", "after"), ("after=1.5", "after"), ("wait=6", "wait"), ("wait=-1", "wait"),
     ("wait=nan", "wait"), ("wait=soon", "wait"), ("since=3", "since")],
)
def test_a_bad_transitions_query_is_a_400_naming_the_field(query, field):
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    response = contract_client(app).get(f"/_chaos/breakers/transitions?{query}")
    assert response.status_code == 400 and set(response.json["fields"]) == {field}


def test_unknown_paths_under_the_prefix_are_json_404s():
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    response = contract_client(app).get("/_chaos/nothing")
    assert response.status_code == 404 and response.json["endpoints"]["breakers"] == "/_chaos/breakers"


# ------------------------------------------------------------ assaults through the agent


def test_assaults_spare_the_agent_and_health_and_hit_the_rest():
    app = app_with(CHAOS_AGENT="on")
    ChaosAgent(app)
    client = contract_client(app)
    assert client.put("/_chaos/assaults", json={"kind": "error", "status": 503, "path": "^/"}).status_code == 200
    for path in (*READS, "/_chaos/assaults", "/health"):
        assert client.get(path).status_code == 200, path
    assert client.get("/orders").status_code == 503
    stopped = client.delete("/_chaos/assaults").json
    assert stopped["stopped"]["injected"] == 1 and stopped["active"] is False
    assert client.put("/_chaos/assaults", json={"kind": "latency"}).status_code == 400


# ------------------------------------------------------------ the contract and imports


@pytest.mark.parametrize("name", NAMES)
def test_each_contract_schema_is_draft_2020_12_with_a_versioned_id(name):
    import jsonschema

    loaded = schema(name)
    jsonschema.Draft202012Validator.check_schema(loaded)
    assert loaded["$id"] == f"https://flask-chaos.dev/contract/v1/{name}.schema.json"
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_an_unknown_schema_is_a_value_error():
    with pytest.raises(ValueError, match="no contract schema 'nope'"):
        schema("nope")
    with pytest.raises(ValueError, match="no contract version 9"):
        schema("index", version=9)


def test_the_schemas_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"chaos.contract" = ["v1/*.json"]' in text
    assert sorted(p.name for p in (ROOT / "chaos" / "contract" / "v1").iterdir()) == sorted(
        f"{n}.schema.json" for n in NAMES)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_the_agent_imports_no_other_part_of_the_toolkit_and_no_heavy_library():
    code = """
import json, sys
import chaos.agent
from flask import Flask
app = Flask('x'); app.config['CHAOS_AGENT'] = 'on'
chaos.agent.ChaosAgent(app)
print(json.dumps(sorted(sys.modules)))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    roots = {m.split(".")[0] for m in modules}
    assert not roots & {"pydantic", "plotly", "rich", "yaml", "requests", "marshmallow", "pybreaker",
                        "circuitbreaker", "jsonschema"}, roots
    toolkit = {m for m in modules if m == "chaos" or m.startswith("chaos.")}
    allowed = {m for m in toolkit if m in ("chaos", "chaos.agent", "chaos.contract")
               or m.startswith(("chaos.agent.", "chaos.contract."))}
    assert toolkit == allowed, toolkit - allowed
    assert "chaos.contract" in toolkit
    # prometheus-client is imported by the first scrape, not at boot (a tenth of a service's boot time).
    assert "prometheus_client" not in roots


def test_the_first_scrape_imports_prometheus_client_and_answers():
    code = """
import json, sys
import chaos.agent
from flask import Flask
app = Flask('x'); app.config['CHAOS_AGENT'] = 'on'
chaos.agent.ChaosAgent(app)
before = 'prometheus_client' in sys.modules
answer = app.test_client().get('/_chaos/metrics')
print(json.dumps([before, 'prometheus_client' in sys.modules, answer.status_code, answer.content_type]))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    before, after, status, content_type = json.loads(done.stdout)
    assert (before, after, status) == (False, True, 200) and content_type.startswith("text/plain")


def test_the_contract_is_pure_standard_library():
    done = run_python("import json, sys; before = set(sys.modules); import chaos.contract; "
                      "chaos.contract.schema('index'); print(json.dumps(sorted(set(sys.modules) - before)))")
    assert done.returncode == 0, done.stderr
    roots = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert roots - {"chaos"} <= set(sys.stdlib_module_names), roots - set(sys.stdlib_module_names)


def test_without_flask_the_import_says_what_to_install():
    done = run_python("import sys; sys.modules['flask'] = None; import chaos.agent")
    assert done.returncode != 0
    assert "ImportError" in done.stderr and "pip install 'flask-chaos[agent]'" in done.stderr
