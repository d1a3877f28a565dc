"""The http_* faults against the real orders service: a gunicorn process
started by the local runtime from system.yaml (so with its agent on, as
in a run), driven through the agent with the runtime's token. Apply makes orders answer 5xx or wait; revert makes it normal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from chaos.faults import FAULTS, FaultContext
from chaos.clients.agent import Agents
from chaos.faults._http import stop_assaults
from chaos.history import History
from chaos.engine.restore import restore
from chaos.runtime import Status, make_runtime
from chaos.spec import load_system
from chaos.spec.system import System

ROOT = Path(__file__).resolve().parents[2]
from chaos.clients.toxiproxy import Toxiproxy


@pytest.fixture(scope="module")
def orders(tmp_path_factory):
    """The real orders process alone (its inventory calls are never made
    here); stopped, by the runtime that started it, at the end."""
    runtime = make_runtime("local", load_system(ROOT / "system.yaml"), tmp_path_factory.mktemp("state"))
    runtime.start("orders")
    yield runtime
    runtime.down()
    assert runtime.status("orders") is Status.STOPPED


@pytest.fixture
def only_orders(system):
    """The system file cut down to orders, the one service running here."""
    return System(system.spec.model_copy(update={"services": {"orders": system.services["orders"]}}), system.path, [])


@pytest.fixture(autouse=True)
def no_assault_left(only_orders, orders):
    """A test that fails half-way must not leave its assault to the next one."""
    yield
    stop_assaults(Agents(only_orders, orders.agent_token))


@pytest.fixture
def ctx(system, orders):
    return FaultContext(system, orders, Toxiproxy(system.spec.toxiproxy.url), History(), "test", Agents(system, orders.agent_token))


@pytest.fixture
def base(system):
    return system.services["orders"].base_url


def fault(kind: str, **fields):
    return FAULTS[kind](kind=kind, service="orders", at=1, **fields)


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=5)


def test_http_error_makes_orders_answer_the_status_until_reverted(ctx, base):
    handle = fault("http_error", status=503, path="^/orders").apply(ctx)
    answer = get(f"{base}/orders?user_id=1")
    assert answer.status_code == 503 and answer.json()["injected"] is True
    assert get(f"{base}/health").status_code == 200  # never assaulted: the runtime must see it healthy
    assert get(f"{base}/_chaos/breakers").status_code == 200  # nor is the agent
    assert handle.revert() == "stopped the assault on orders: 1 of 1 matching requests hit"
    assert get(f"{base}/orders?user_id=1").status_code == 200


def test_http_exception_is_answered_by_the_services_own_500_handler(ctx, base):
    handle = fault("http_exception").apply(ctx)
    answer = get(f"{base}/orders/1")
    assert answer.status_code == 500 and answer.json() == {"error": "internal server error"}
    handle.revert()
    assert get(f"{base}/orders/1").status_code == 404  # normal again: there is no order 1


def test_http_latency_delays_only_the_matching_paths(ctx, base):
    handle = fault("http_latency", latency_ms=400, path=r"^/orders/\d+").apply(ctx)
    started = time.monotonic()
    assert get(f"{base}/orders/7").status_code == 404
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert get(f"{base}/orders?user_id=1").status_code == 200
    assert time.monotonic() - started < 0.4
    handle.revert()
    started = time.monotonic()
    get(f"{base}/orders/7")
    assert time.monotonic() - started < 0.4


def test_a_share_of_requests_fails_and_revert_counts_them(ctx, base):
    handle = fault("http_error", share=0.5).apply(ctx)
    session = requests.Session()
    failed = sum(session.get(f"{base}/orders?user_id=1", timeout=5).status_code == 500 for _ in range(300))
    assert 0.4 <= failed / 300 <= 0.6, failed  # 300 draws: sd 0.029, so the band is over 3 sigma wide
    assert handle.revert() == f"stopped the assault on orders: {failed} of 300 matching requests hit"


def test_restore_stops_an_assault_an_interrupted_run_left(ctx, base, orders, only_orders, monkeypatch):
    fault("http_error").apply(ctx)  # and never reverted, as after a SIGKILLed runner
    assert get(f"{base}/orders?user_id=1").status_code == 500
    monkeypatch.setattr(orders, "up", lambda: [])  # only orders runs here: start nothing else
    done = restore(only_orders, orders, ctx.toxiproxy, breakers=False)
    assert done.assaults_stopped == ["orders"] and "stopped the assaults left on orders" in done.lines()
    assert get(f"{base}/orders?user_id=1").status_code == 200
