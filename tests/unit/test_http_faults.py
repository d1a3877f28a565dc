"""The http_* faults: refused in a scenario when they cannot work, and their
apply/revert protocol against a Flask app with chaos.assaults on, served on
an ephemeral loopback port (the real services are in tests/integration)."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest
from flask import Flask
from werkzeug.serving import make_server

from chaos.errors import ConfigError, SetupError
from chaos.faults import FAULTS, FaultContext
from chaos.faults._http import stop_assaults
from chaos.history import History
from chaos.scenario import load_scenario
from chaos.system import System

SCENARIO = textwrap.dedent(
    """\
    name: t
    description: http fault
    duration: 30s
    faults:
      - kind: http_error
        service: orders
        status: 503
        share: 0.5
        path: ^/orders
        at: 8s
        duration: 10s
    checks:
      - kind: containment
    """
)


def load(tmp_path, system, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_scenario(path, system)


def refusal(tmp_path, system, text) -> str:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, system, text)
    return str(e.value)


def test_a_valid_http_fault_is_typed_and_described(tmp_path, system):
    (fault,) = load(tmp_path, system, SCENARIO).faults
    assert (fault.kind, fault.service, fault.status, fault.share, fault.path) == ("http_error", "orders", 503, 0.5, "^/orders")
    assert fault.describe() == "orders answers 50% of requests on paths matching ^/orders with an injected 503"
    assert fault.targets(system) == frozenset({"orders"})
    assert {"http_error", "http_exception", "http_latency"} <= set(FAULTS)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("status: 503", "status: 404", "faults[0].status: Input should be greater than or equal to 500"),
        ("share: 0.5", "share: 1.5", "faults[0].share: Input should be less than or equal to 1"),
        ("path: ^/orders", "path: ^/orders(", "t.yaml:9: faults[0].path: not a valid regular expression: missing )"),
        ("kind: http_error", "kind: http_latency", "faults[0].latency_ms: required field is missing"),
        ("status: 503", "latency_ms: 5", "faults[0].latency_ms: unknown field"),
    ],
)
def test_bad_fields_are_refused_with_file_line_and_field(tmp_path, system, old, new, expected):
    assert expected in refusal(tmp_path, system, SCENARIO.replace(old, new))


def test_a_service_without_an_assaults_endpoint_is_refused_before_anything_starts(tmp_path, root):
    text = (root / "system.yaml").read_text().replace("    assaults: /_chaos/assaults\n", "", 1)  # inventory's
    import shutil

    shutil.copytree(root / "toxiproxy", tmp_path / "toxiproxy")  # the proxy lists the system file names
    shutil.copy(root / "compose.yaml", tmp_path / "compose.yaml")
    (tmp_path / "system.yaml").write_text(text)
    from chaos.system import load_system

    message = refusal(tmp_path, load_system(tmp_path / "system.yaml"), SCENARIO.replace("service: orders", "service: inventory"))
    assert "t.yaml:6: faults[0].service: service 'inventory' has no assaults endpoint" in message
    assert "assaults: /_chaos/assaults" in message and "CHAOS_ASSAULTS=on" in message


# ------------------------------------------------------------ apply and revert


@pytest.fixture
def served():
    """Flask apps on ephemeral loopback ports: `served(assaults_on)` -> port."""
    servers = []

    def start(assaults_on: bool = True) -> int:
        from chaos.agent.assaults import Assaults

        app = Flask("fake-orders")
        app.config["CHAOS_ASSAULTS"] = assaults_on
        app.add_url_rule("/orders", "orders", lambda: {"ok": True})
        Assaults(app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.server_port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def with_orders_on(system: System, port: int) -> System:
    """The sample system cut down to orders, listening on `port` instead of
    its fixed one (other people's services may be on the fixed ports)."""
    orders = system.services["orders"].model_copy(update={"port": port})
    spec = system.spec.model_copy(update={"services": {"orders": orders}})
    return System(spec, system.path, list(system.proxies.values()))


def context(system: System) -> FaultContext:
    return FaultContext(system, runtime=None, toxiproxy=None, history=History(), run_id="test")  # type: ignore[arg-type]


def fault(kind: str = "http_error", **fields):
    return FAULTS[kind](kind=kind, service="orders", at=1, **fields)


def test_apply_sets_the_assault_and_revert_removes_it_once(system, served):
    import requests

    port = served()
    ctx = context(with_orders_on(system, port))
    handle = fault(status=502, share=1.0, path="/orders").apply(ctx)
    url = f"http://127.0.0.1:{port}"
    assert requests.get(url + "/orders", timeout=2).status_code == 502
    assert requests.get(url + "/_chaos/assaults", timeout=2).json()["assault"] == {
        "kind": "error", "share": 1.0, "status": 502, "path": "/orders"
    }
    assert handle.revert() == "stopped the assault on orders: 1 of 1 matching requests hit"
    assert requests.get(url + "/orders", timeout=2).status_code == 200
    assert "already gone" in handle.revert()  # safe to call again


def test_revert_leaves_an_assault_set_by_someone_else(system, served):
    import requests

    port = served()
    ctx = context(with_orders_on(system, port))
    first = fault("http_exception").apply(ctx)
    fault("http_latency", latency_ms=1).apply(ctx)  # replaces the first
    assert "replaced; left as is" in first.revert()
    assert requests.get(f"http://127.0.0.1:{port}/_chaos/assaults", timeout=2).json()["assault"]["kind"] == "latency"
    assert stop_assaults(ctx.system) == ["orders"]
    assert stop_assaults(ctx.system) == []


def test_a_service_with_assaults_off_makes_apply_a_setup_error(system, served):
    ctx = context(with_orders_on(system, served(assaults_on=False)))
    with pytest.raises(SetupError, match="no assaults endpoint .* CHAOS_ASSAULTS=on"):
        fault().apply(ctx)


def test_an_unreachable_service_makes_apply_a_setup_error_and_revert_a_note(system, served):
    port = served()
    ctx = context(with_orders_on(system, port))
    handle = fault().apply(ctx)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    gone = context(with_orders_on(system, free))
    with pytest.raises(SetupError, match="cannot set the assault on orders"):
        fault().apply(gone)
    handle.url = gone.system.services["orders"].base_url + "/_chaos/assaults"  # as if the process had died
    assert handle.revert() == "orders refused the connection: its assault ended with its process"
