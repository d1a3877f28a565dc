"""The swarm runtime's pieces that need no engine: the stack file derived
from compose.yaml, the replicas: field of kill and pause, scenarios' runtimes:,
and the replicas_replaced check on synthetic replica events."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaos.checks import evaluate_all
from chaos.checks.replicas_replaced import ReplicasReplaced
from chaos.errors import ConfigError
from chaos.faults._replicas import how_many
from chaos.history import FaultEvent, History, Mark, Replica
from chaos.runtime.stack import stack_file, toxiproxy_proxies
from chaos.spec.scenario import load_scenario, scenario_from_data

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_000_000.0


def derived(system) -> dict:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return stack_file(compose, stack="s-600", network="shop", toxiproxy="toxiproxy", replicas={"orders": 3, "inventory": 3},
                      env={"CHAOS_BREAKERS": "on", "CHAOS_AGENT_TOKEN": "t"})


def test_the_stack_has_the_services_only_with_replicas_dnsrr_and_no_published_port(system):
    stack = derived(system)
    assert set(stack["services"]) == set(system.services)  # no Toxiproxy, no holders
    for name, spec in stack["services"].items():
        assert "ports" not in spec and "network_mode" not in spec and "depends_on" not in spec
        assert spec["deploy"]["endpoint_mode"] == "dnsrr"
        assert spec["deploy"]["replicas"] == (3 if name in ("orders", "inventory") else 1)
        assert spec["labels"] == spec["deploy"]["labels"] == {"io.flask-chaos.project": "s-600", "io.flask-chaos.service": name}
        if system.services[name].agent is None:  # redis, the mailer: nothing of the agent's to pass
            continue
        assert spec["environment"]["CHAOS_BREAKERS"] == "on" and spec["environment"]["CHAOS_AGENT_TOKEN"] == "t"
        assert "SHOP_BREAKER_RESET_TIMEOUT" not in spec["environment"]  # a pass-through with nothing to pass
    assert stack["networks"]["shop"] == {"driver": "overlay", "attachable": True}
    assert stack["services"]["orders"]["environment"]["SHOP_INVENTORY_URL"] == "http://toxiproxy:6103"


def test_toxiproxy_gets_an_access_proxy_per_service():
    proxies = toxiproxy_proxies([{"name": "gateway_orders", "listen": "0.0.0.0:6102", "upstream": "orders:5102"}], {"orders": 5102})
    assert proxies[-1] == {"name": "access_orders", "listen": "0.0.0.0:5102", "upstream": "orders:5102", "enabled": True}


@pytest.mark.parametrize(("value", "total", "n"), [(1, 3, 1), (5, 3, 3), ("all", 3, 3), ("50%", 3, 2), ("10%", 3, 1)])
def test_how_many_replicas(value, total, n):
    assert how_many(value, total) == n


def scenario(system, fault: dict, **extra):
    data = {"name": "x", "description": "d", "duration": 30, "faults": [{"kind": "kill", "service": "orders", "at": 5, **fault}],
            "checks": [{"kind": "containment"}], **extra}
    return scenario_from_data(data, system)


@pytest.mark.parametrize("bad", [0, "0%", "150%", "half", -1])
def test_a_bad_replicas_value_names_the_field(system, bad):
    with pytest.raises(ConfigError) as e:
        scenario(system, {"replicas": bad})
    assert "faults[0].replicas" in str(e.value)


def test_replicas_only_on_swarm(system):
    s = scenario(system, {"replicas": 1, "duration": 5})
    s.check_runtime("swarm")
    with pytest.raises(ConfigError, match="needs RUNTIME=swarm, not local"):
        s.check_runtime("local")


def test_a_swarm_scenario_names_file_line_and_field_elsewhere(system):
    s = load_scenario(ROOT / "scenarios" / "one-replica-down.yaml", system)
    s.check_runtime("swarm")
    for runtime in ("local", "docker"):
        with pytest.raises(ConfigError) as e:
            s.check_runtime(runtime)
        assert str(e.value).startswith(f"{ROOT / 'scenarios' / 'one-replica-down.yaml'}:9: runtimes: needs RUNTIME=swarm")


def test_the_library_scenarios_run_everywhere_but_the_swarm_ones(system):
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = load_scenario(path, system)
        swarm_only = path.stem in ("one-replica-down", "all-replicas-down", "rolling-restart")
        assert (s.needs("local") is not None) == swarm_only, path.stem
        assert s.needs("swarm") is None or not swarm_only


def replicas(events: list[tuple[float, int]], fault=(8.0, 28.0)) -> History:
    h = History([Mark("load-start", T0), FaultEvent(0, "start", "kill", "kill 1 replica of orders", ("orders",), T0 + fault[0]),
                 FaultEvent(0, "end", "kill", "kill 1 replica of orders", ("orders",), T0 + fault[1])])
    h.append(Replica("orders", "", None, "baseline", 3, 3, T0 + 1))
    for at, running in events:
        h.append(Replica("orders", "t", 1, "running" if running == 3 else "failed", running, 3, T0 + at))
    return h


def verdict(history: History, system, within: float = 30.0):
    return evaluate_all([ReplicasReplaced(kind="replicas_replaced", service="orders", within=within)], history, system)[0]


def test_replicas_replaced_passes_with_the_time_it_took(system):
    v = verdict(replicas([(8.1, 2), (14.0, 3)]), system)
    assert v.status == "pass" and v.figures["replaced_s"] == pytest.approx(6.0) and "fell to 2 of 3" in v.evidence


def test_replicas_replaced_fails_when_too_slow_or_never(system):
    assert verdict(replicas([(8.1, 2), (14.0, 3)]), system, within=5).status == "fail"
    assert verdict(replicas([(8.1, 2)]), system).status == "fail"


def test_replicas_replaced_is_unknown_without_replica_events_or_a_loss(system):
    no_events = History([Mark("load-start", T0), FaultEvent(0, "start", "kill", "k", ("orders",), T0 + 8)])
    assert verdict(no_events, system).status == "unknown"
    assert "RUNTIME=swarm" in verdict(no_events, system).evidence
    assert verdict(replicas([]), system).status == "unknown"


def test_the_nightly_skips_swarm_scenarios_elsewhere_saying_why(system):
    from chaos.cli import _runs_on

    said: list[str] = []

    class Say:
        def say(self, line: str) -> None:
            said.append(line)

    assert _runs_on("one-replica-down", system, "swarm", Say())
    assert not _runs_on("one-replica-down", system, "local", Say())
    assert said == ["skipping one-replica-down: needs RUNTIME=swarm (this is the local runtime)"]
    assert _runs_on("order-down", system, "local", Say()) and _runs_on("order-down", system, "swarm", Say())


@pytest.mark.parametrize(("replicas", "field", "message"), [("{ordrs: 3}", "swarm.replicas.ordrs", "unknown service 'ordrs'"),
                                                            ("{orders: 0}", "swarm.replicas.orders", "must be between 1 and 20, not 0")])
def test_a_bad_swarm_section_names_file_line_and_field(tmp_path, replicas, field, message):
    from chaos.spec import load_system

    text = (ROOT / "system.yaml").read_text().replace("replicas: {orders: 3, inventory: 3}", f"replicas: {replicas}")
    for name in ("compose.yaml",):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / "toxiproxy").mkdir()
    for f in (ROOT / "toxiproxy").glob("*.json"):
        (tmp_path / "toxiproxy" / f.name).write_text(f.read_text())
    (tmp_path / "system.yaml").write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("replicas: {"))
    with pytest.raises(ConfigError) as e:
        load_system(tmp_path / "system.yaml")
    assert str(e.value).startswith(f"{tmp_path / 'system.yaml'}:{line}: {field}: {message}")


def test_replicas_replaced_is_unknown_when_the_watcher_missed_some_asks(system):
    h = replicas([(8.1, 2), (14.0, 3)])
    h.append(Replica("orders", "", None, "unobserved", -1, 3, T0 + 40, "the engine's task list could not be read at times: X"))
    v = verdict(h, system)
    assert v.status == "unknown" and "not watched the whole run" in v.evidence


def test_the_watcher_records_task_changes_with_the_engines_time_and_a_gap_as_unobserved():
    from chaos.runtime.swarm_tasks import ReplicaWatcher

    class Api:
        def __init__(self):
            self.tasks_seen = [[{"ID": "a" * 20, "ServiceID": "S", "Slot": 1, "Status": {"State": "running", "Timestamp": "2026-11-30T14:00:00.5Z"}}],
                               [{"ID": "a" * 20, "ServiceID": "S", "Slot": 1,
                                 "Status": {"State": "failed", "Timestamp": "2026-11-30T14:00:01.25Z", "Err": "exit 137"}}]]

        def tasks(self):
            if not self.tasks_seen:
                raise RuntimeError("engine busy")
            return self.tasks_seen.pop(0)

    class Client:
        api = Api()

    h = History()
    w = ReplicaWatcher(Client(), {"S": "orders"}, lambda name: 1, h)
    w.poll(record=False)
    w.poll()
    w.error = None
    w._stop.set()  # noqa: SLF001 - not started: stop() only makes its last ask
    w._thread = type("T", (), {"join": lambda self, timeout=None: None})()  # noqa: SLF001
    w.stop()
    events = h.of(Replica)
    assert [(e.state, e.running) for e in events] == [("failed", 0), ("unobserved", -1)]
    assert events[0].at == pytest.approx(1796047201.25)  # 2026-11-30T14:00:01.25Z and events[0].detail == "exit 137"
