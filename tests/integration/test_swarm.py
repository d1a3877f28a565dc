"""The swarm runtime against a real engine: the runtime contract (the tests
of test_runtime.py, run here on "swarm"), the loopback promise kept although
swarm ignores a published port's host address, a replica kill replaced by
the scheduler, one-replica-down (and, in the long form, all-replicas-down)
through the CLI with the replica events in the history, and a `down` that
leaves no service, task, network or volume of the stack and the swarm as it
found it.

Every test here shares one stack, for this module only: deploying it (three
replicas of orders and inventory) takes 20-30 s on two cores, so each test
starts from `up()` on the stack the last one left (which brings back what it
killed) instead of from nothing, and the stack is gone before other modules
run (their stacks use the same ports when no offset is set). It runs on
$CHAOS_PORT_OFFSET's ports, as STACK-OFFSET, so it cannot meet the default one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

# The shared contract, collected here again with this module's `kind` and `runtime`.
from .test_runtime import (  # noqa: F401
    test_a_paused_unit_can_be_killed_and_comes_back_running,
    test_a_port_taken_by_a_stranger_is_a_clear_setup_error,
    test_acting_on_a_stopped_or_unknown_unit_is_a_setup_error,
    test_data_survives_a_kill,
    test_kill_makes_callers_see_refusals_and_start_brings_it_back,
    test_pause_freezes_so_callers_time_out_and_resume_thaws,
    test_restart_gives_a_new_process,
    test_up_starts_every_unit_healthy_and_is_idempotent,
)

ROOT = Path(__file__).resolve().parents[2]


def swarm_system():
    """The sample system, moved by $CHAOS_PORT_OFFSET (if set)."""
    from chaos.spec import load_system
    from chaos.spec.ports import shifted

    return shifted(load_system(ROOT / "system.yaml"), int(os.environ.get("CHAOS_PORT_OFFSET") or 0))


def swarm_leftovers(client, stack: str) -> dict[str, list[str]]:
    """Every service, task, container, network, volume, secret and config of the stack."""
    label = {"label": f"com.docker.stack.namespace={stack}"}
    swarm_on = client.info()["Swarm"]["LocalNodeState"] == "active"
    return {
        "services": [s.name for s in client.services.list(filters=label)] if swarm_on else [],
        "tasks": [t["ID"] for t in client.api.tasks(filters=label)] if swarm_on else [],
        "containers": [c["Names"][0] for c in client.api.containers(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
        "secrets": [s.name for s in client.secrets.list(filters=label)] if swarm_on else [],
        "configs": [c.name for c in client.configs.list(filters=label)] if swarm_on else [],
    }


@pytest.fixture(scope="module")
def swarm_stack(docker_engine, tmp_path_factory):
    """(runtime, the swarm state the engine was in before): one stack for the
    module, removed at its end; the swarm is left again if the runtime joined it."""
    import docker

    from chaos.runtime import make_runtime

    client = docker.from_env()
    before = client.info()["Swarm"]["LocalNodeState"]
    rt = make_runtime("swarm", swarm_system(), tmp_path_factory.mktemp("swarm") / "state", {"CHAOS_BREAKERS": "on"})
    yield rt, before
    rt.down()
    assert swarm_leftovers(client, rt.stack) == {k: [] for k in swarm_leftovers(client, rt.stack)}
    assert client.info()["Swarm"]["LocalNodeState"] == before, "the runtime did not leave the engine's swarm as it found it"


@pytest.fixture
def kind(docker_engine) -> str:
    return "swarm"


@pytest.fixture
def runtime(swarm_stack):
    """The module's stack, up (whatever the last test killed is back)."""
    rt, _ = swarm_stack
    rt.up()
    return rt


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (none on some CI machines)."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in f" {line} "]
    return [a for a in found if not a.startswith("127.")]


def answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def test_only_loopback_ports_are_published(runtime):
    """No swarm service publishes a port (swarm would bind every interface);
    only Toxiproxy's container does, on 127.0.0.1, and the entrypoint does
    not answer on this machine's other addresses."""
    import docker

    client = docker.from_env()
    system = runtime.system
    for svc in client.services.list(filters={"label": f"com.docker.stack.namespace={runtime.stack}"}):
        assert not (svc.attrs.get("Endpoint", {}).get("Ports") or []), f"{svc.name} publishes a port"
        assert svc.attrs["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    bindings = [p for c in client.api.containers(filters={"label": f"com.docker.stack.namespace={runtime.stack}"})
                for p in c["Ports"] if p.get("PublicPort")]
    assert len(bindings) == 1 + len(system.services), bindings  # Toxiproxy's API and one access proxy a service
    assert {p["IP"] for p in bindings} == {"127.0.0.1"}, bindings
    gateway = system.services[system.spec.entrypoint].port
    assert answers("127.0.0.1", gateway)
    for address in other_addresses():
        assert not answers(address, gateway), f"the gateway answers on {address}:{gateway}"


def test_replica_kill_is_replaced_by_the_scheduler(runtime):
    """A replica-level kill leaves the others serving; swarm starts a new
    task, and the watcher records the fall and the return."""
    from chaos.history import History, Replica

    history = History()
    watcher = runtime.watch_replicas(history)
    try:
        killed = runtime.kill_replicas("orders", 1)
        orders = runtime.system.services["orders"]
        assert requests.get(orders.base_url + orders.health, timeout=5).status_code == 200  # the others answer
        runtime.wait_replicas("orders", timeout=60)
    finally:
        watcher.stop()
    events = [e for e in history.of(Replica) if e.service == "orders"]
    assert len(killed) == 1
    assert min(e.running for e in events) == 2 and events[-1].running == 3, events
    assert any(e.state == "failed" for e in events), events


def chaos(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "chaos", "--runtime", "swarm", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# Both in make test-long. one-replica-down failed 2 of 5 CI simulations
# (2026-12-01): the gateway queued from the run's first seconds, before the
# fault (p99 1.2-3 s, then the breaker opened), while the module passed whole
# on a quiet machine. Not explained yet; the swarm runtime's own tests above
# stay in make test.
@pytest.mark.parametrize("scenario", [pytest.param("one-replica-down", marks=pytest.mark.long),
                                      pytest.param("all-replicas-down", marks=pytest.mark.long)])
def test_replica_scenarios_pass_on_swarm(scenario, runtime, tmp_path):
    """Through the CLI, on the session's stack (same ports and stack name,
    so the run finds it up and leaves it so)."""
    result = chaos("--state", str(runtime.state_dir), "run", scenario, "--reports", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runtime swarm" in result.stdout
    assert "PASS    orders's replicas replaced within 30 s" in result.stdout, result.stdout
    run = next(tmp_path.iterdir())
    replicas = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if '"kind":"replica"' in line]
    assert any(r["service"] == "orders" and r["state"] == "failed" for r in replicas), "no task death in the history"


def test_a_swarm_scenario_is_refused_elsewhere_with_exit_2():
    env = {**os.environ, "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "chaos", "--runtime", "local", "run", "one-replica-down"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "one-replica-down.yaml:9: runtimes: needs RUNTIME=swarm" in done.stderr + done.stdout


def test_down_leaves_nothing_and_the_swarm_as_found(swarm_stack):
    """Last of this file: removes the module's stack (a later test would bring it back)."""
    import docker

    rt, before = swarm_stack
    rt.up()
    stopped = rt.down()
    client = docker.from_env()
    assert set(stopped) == {"toxiproxy", *rt.system.services}
    assert swarm_leftovers(client, rt.stack) == {k: [] for k in swarm_leftovers(client, rt.stack)}
    assert client.info()["Swarm"]["LocalNodeState"] == before
