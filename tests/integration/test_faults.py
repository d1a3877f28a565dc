"""Every fault kind against a real Toxiproxy: applying it makes exactly the
toxics (or proxy state) it promises, reverting it leaves the proxy clean.
Process faults are checked against a runtime that records what it is asked."""

from __future__ import annotations

import time

import pydantic
import pytest

from chaos.clients.agent import Agents
from chaos.faults import FAULTS, Fault, FaultContext
from chaos.history import History
from chaos.runtime import Status
from chaos.clients.toxiproxy import Toxiproxy

from .conftest import populate_on_free_ports


@pytest.fixture
def ctx(system, toxiproxy_url) -> FaultContext:
    """The system's proxies, created on our own Toxiproxy on free ports."""
    client = Toxiproxy(toxiproxy_url)
    populate_on_free_ports(client, [p.model_dump() for p in system.proxies.values()])
    yield FaultContext(system, RecordingRuntime(), client, History(), "t1", Agents(system))
    for name in system.proxies:
        client.clean(name)


def fault(**raw) -> Fault:
    return pydantic.TypeAdapter(FAULTS[raw["kind"]]).validate_python({"at": 1, **raw})


def toxics(ctx: FaultContext) -> dict[str, list[dict]]:
    return {p: ctx.toxiproxy.toxics(p) for p in ctx.system.proxies if ctx.toxiproxy.toxics(p)}


TOXIC_FAULTS = [
    ({"kind": "latency", "latency": 300, "jitter": 20}, "latency", {"latency": 300, "jitter": 20}),
    ({"kind": "bandwidth", "rate": 5, "stream": "upstream"}, "bandwidth", {"rate": 5}),
    ({"kind": "slow_close", "delay": 400}, "slow_close", {"delay": 400}),
    ({"kind": "timeout", "timeout": 0}, "timeout", {"timeout": 0}),
    ({"kind": "reset_peer", "timeout": 10, "toxicity": 0.5}, "reset_peer", {"timeout": 10}),
    ({"kind": "slicer", "average_size": 16, "size_variation": 4, "delay": 50}, "slicer", {"average_size": 16, "size_variation": 4, "delay": 50}),
    ({"kind": "limit_data", "bytes": 1024}, "limit_data", {"bytes": 1024}),
]


@pytest.mark.parametrize("raw,toxic_type,attributes", TOXIC_FAULTS, ids=[t[1] for t in TOXIC_FAULTS])
def test_each_toxic_fault_adds_its_toxic_and_revert_removes_it(ctx, raw, toxic_type, attributes):
    f = fault(edge="gateway->orders", **raw)
    handle = f.apply(ctx)
    (toxic,) = toxics(ctx)["gateway_orders"]
    assert toxic["type"] == toxic_type and toxic["attributes"] == attributes
    assert toxic["stream"] == raw.get("stream", "downstream")
    assert toxic["toxicity"] == pytest.approx(raw.get("toxicity", 1.0))
    assert f.targets(ctx.system) == {"orders"}
    handle.revert()
    handle.revert()  # a second revert is harmless
    assert toxics(ctx) == {}


def test_down_disables_the_proxy_and_revert_enables_it(ctx):
    handle = fault(kind="down", edge="orders->inventory").apply(ctx)
    assert ctx.toxiproxy.proxy("orders_inventory")["enabled"] is False
    handle.revert()
    assert ctx.toxiproxy.proxy("orders_inventory")["enabled"] is True


def test_partition_of_an_edge_stops_data_both_ways(ctx):
    handle = fault(kind="partition", edge="gateway->users").apply(ctx)
    found = toxics(ctx)
    assert list(found) == ["gateway_users"]
    assert sorted(t["stream"] for t in found["gateway_users"]) == ["downstream", "upstream"]
    assert all(t["type"] == "timeout" and t["attributes"] == {"timeout": 0} for t in found["gateway_users"])
    handle.revert()
    assert toxics(ctx) == {}


def test_isolating_a_service_cuts_every_edge_into_and_out_of_it(ctx):
    f = fault(kind="partition", service="orders")
    handle = f.apply(ctx)
    assert sorted(toxics(ctx)) == ["gateway_orders", "orders_inventory", "orders_redis"]  # in, out to inventory, out to its broker
    assert f.targets(ctx.system) == {"orders"}
    handle.revert()
    assert toxics(ctx) == {}


def test_a_partition_needs_exactly_one_target():
    with pytest.raises(pydantic.ValidationError, match="exactly one of edge"):
        fault(kind="partition", edge="gateway->users", service="users")


def test_latency_ramp_grows_in_steps(ctx):
    f = fault(kind="latency_ramp", edge="gateway->orders", start=100, end=400, steps=4, duration=0.8)
    assert f.levels() == [100, 200, 300, 400]
    handle = f.apply(ctx)
    seen = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and len(seen) < 4:
        for t in ctx.toxiproxy.toxics("gateway_orders"):
            seen.add(t["attributes"]["latency"])
        time.sleep(0.02)
    handle.revert()
    assert seen == {100, 200, 300, 400}
    assert toxics(ctx) == {}


class RecordingRuntime:
    """A runtime that only records what faults ask of it (unit-level fake)."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.stopped: set[str] = set()

    def __getattr__(self, verb):
        def record(name):
            self.calls.append((verb, name))
            if verb in ("kill", "stop"):
                self.stopped.add(name)
            if verb in ("start", "restart"):
                self.stopped.discard(name)
        return record

    def status(self, name):
        return Status.STOPPED if name in self.stopped else Status.RUNNING


@pytest.mark.parametrize(
    "kind,applied,reverted",
    [
        ("kill", [("kill", "orders")], [("start", "orders")]),
        ("stop", [("stop", "orders")], [("start", "orders")]),
        ("pause", [("pause", "orders")], [("resume", "orders")]),
        ("restart", [("restart", "orders")], []),
    ],
)
def test_process_faults_ask_the_runtime_and_undo_it(ctx, kind, applied, reverted):
    runtime: RecordingRuntime = ctx.runtime  # type: ignore[assignment]
    f = fault(kind=kind, service="orders")
    handle = f.apply(ctx)
    assert runtime.calls == applied
    handle.revert()
    assert runtime.calls == applied + reverted
    handle.revert()  # a second revert starts nothing twice
    assert runtime.calls == applied + reverted
    assert f.targets(ctx.system) == {"orders"}


def test_instant_faults_refuse_a_duration(system, tmp_path, root):
    from chaos.errors import ConfigError
    from chaos.spec.scenario import load_scenario

    text = (root / "scenarios" / "order-down.yaml").read_text().replace("kind: kill", "kind: restart")
    path = tmp_path / "order-down.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="a restart is instant: it takes no duration"):
        load_scenario(path, system)


def test_flapping_gives_on_windows_within_the_duration():
    f = fault(kind="down", edge="gateway->orders", at=8, duration=12, flap={"on": 2, "off": 3})
    assert f.windows(30) == [(8, 10), (13, 15), (18, 20)]
