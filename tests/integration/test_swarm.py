"""What only the swarm runtime does, against a real engine: the loopback
promise kept although swarm ignores a published port's host address,
one-replica-down (and, in the long form, all-replicas-down) through the CLI
with the replica events in the history, and a `down` that leaves no
service, task, network or volume of the stack and the swarm as it found it.
The shared contract is in test_runtime.py (its swarm tests share this stack)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .swarm_fixtures import swarm_leftovers

ROOT = Path(__file__).resolve().parents[2]


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback (none on some CI machines)."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in f" {line} "]
    return [a for a in found if not a.startswith("127.") and not a.startswith("172.17.")]


def answers(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def test_only_loopback_ports_are_published(swarm_runtime):
    """No swarm service publishes a port (swarm would bind every interface);
    only Toxiproxy's container does, on 127.0.0.1, and the entrypoint does
    not answer on this machine's other addresses."""
    import docker

    client = docker.from_env()
    system = swarm_runtime.system
    for svc in client.services.list(filters={"label": f"com.docker.stack.namespace={swarm_runtime.stack}"}):
        assert not (svc.attrs.get("Endpoint", {}).get("Ports") or []), f"{svc.name} publishes a port"
        assert svc.attrs["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    bindings = [b for c in client.containers.list(filters={"label": f"com.docker.stack.namespace={swarm_runtime.stack}"})
                for b in (c.attrs["NetworkSettings"]["Ports"] or {}).values() if b]
    hosts = {b["HostIp"] for bs in bindings for b in bs}
    assert hosts == {"127.0.0.1"}, bindings
    gateway = system.services[system.spec.entrypoint].port
    assert answers("127.0.0.1", gateway)
    for address in other_addresses():
        assert not answers(address, gateway), f"the gateway answers on {address}:{gateway}"


def test_replica_kill_is_replaced_by_the_scheduler(swarm_runtime):
    """A replica-level kill leaves the others serving; swarm starts a new
    task, and the watcher records the fall and the return."""
    from chaos.history import History, Replica

    history = History()
    watcher = swarm_runtime.watch_replicas(history)
    try:
        killed = swarm_runtime.kill_replicas("orders", 1)
        orders = swarm_runtime.system.services["orders"]
        assert requests.get(orders.base_url + orders.health, timeout=5).status_code == 200  # the others answer
        swarm_runtime.wait_replicas("orders", timeout=60)
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


@pytest.mark.parametrize("scenario", ["one-replica-down", pytest.param("all-replicas-down", marks=pytest.mark.long)])
def test_replica_scenarios_pass_on_swarm(scenario, swarm_runtime, tmp_path):
    """Through the CLI, on the session's stack (same ports and stack name,
    so the run finds it up and leaves it so)."""
    result = chaos("--state", str(swarm_runtime.state_dir), "run", scenario, "--reports", str(tmp_path))
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


def test_down_leaves_nothing_and_the_swarm_as_found(swarm_session):
    """Last of this file: removes the session's stack (a later test brings it back)."""
    import docker

    rt, before = swarm_session
    rt.up()
    stopped = rt.down()
    client = docker.from_env()
    assert set(stopped) == {"toxiproxy", *rt.system.services}
    assert swarm_leftovers(client, rt.stack) == {k: [] for k in swarm_leftovers(client, rt.stack)}
    assert client.info()["Swarm"]["LocalNodeState"] == before
