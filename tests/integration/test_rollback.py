"""Rollback happens when a step raises mid-run: faults already applied are
reverted, nothing is left killed or poisoned, and the error still surfaces."""

from __future__ import annotations

import io
import textwrap
from typing import Literal

import pytest

from chaos import faults as fault_registry
from chaos.spec import scenario as scenario_module
from chaos.ui.console import Console
from chaos.faults import FaultContext, Handle, ServiceFault
from chaos.engine.runner import Runner
from chaos.runtime import TOXIPROXY, Status, make_runtime
from chaos.spec.scenario import load_scenario
from chaos.clients.toxiproxy import Toxiproxy


class Explode(ServiceFault):
    """A fault whose injection fails, as a real one may (Toxiproxy gone, a typo'd unit)."""

    kind: Literal["explode"]

    def describe(self) -> str:
        return f"explode on {self.service}"

    def apply(self, ctx: FaultContext) -> Handle:
        raise RuntimeError("injection failed")


@pytest.fixture
def explode_registered():
    fault_registry.register(Explode)
    scenario_module._scenario_model.cache_clear()
    yield
    fault_registry.FAULTS.pop("explode")
    scenario_module._scenario_model.cache_clear()


def test_a_step_that_raises_still_rolls_everything_back(system, tmp_path, explode_registered):
    path = tmp_path / "boom.yaml"
    path.write_text(textwrap.dedent("""\
        name: boom
        description: faults applied, then one fails to apply
        duration: 6s
        load: {rate: 10}
        faults:
          - {kind: latency, edge: gateway->orders, latency: 500, at: 1s}
          - {kind: kill, service: inventory, at: 1.5s}
          - {kind: pause, service: users, at: 1.8s}
          - {kind: explode, service: orders, at: 2.5s}
        checks:
          - {kind: breaker_opens, breaker: gateway->orders}
        """))
    scenario = load_scenario(path, system)
    runtime = make_runtime("local", system, tmp_path / "state", {"CHAOS_BREAKERS": "on"})
    out = io.StringIO()
    try:
        with pytest.raises(RuntimeError, match="injection failed"):
            Runner(system, scenario, runtime, Console(out)).run(keep_up=True)
        toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
        assert all(toxiproxy.toxics(p) == [] for p in system.proxies), "a toxic was left behind"
        for name in [TOXIPROXY, *system.services]:
            assert runtime.status(name) is Status.RUNNING, f"{name} left {runtime.status(name).value}"
        assert "fault    kill inventory" in out.getvalue()
    finally:
        runtime.down()
    for name in [TOXIPROXY, *system.services]:
        assert runtime.status(name) is Status.STOPPED
