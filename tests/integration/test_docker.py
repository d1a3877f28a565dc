"""What only the Docker runtime does, against a real engine: the scenarios
through the CLI with `--runtime docker`, what `docker events` shows of a kill,
the refusal to touch containers that are not ours, partitions, and a `down`
that leaves nothing behind. The shared contract is in test_runtime.py."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from chaos.clients.agent import Agents
from chaos.errors import SetupError
from chaos.faults import FaultContext
from chaos.faults.network_partition import NetworkPartition
from chaos.history import History
from chaos.runtime import TOXIPROXY, Status, make_runtime
from chaos.spec.scenario import load_scenario
from chaos.clients.toxiproxy import Toxiproxy

from ..polling import settle
from .conftest import run_chaos

ROOT = Path(__file__).resolve().parents[2]
PROJECT_LABEL = "com.docker.compose.project"


@pytest.fixture
def client(docker_engine):
    import docker

    return docker.from_env()


def ours(client, system) -> dict[str, list[str]]:
    """Every container, network and volume of the compose project."""
    label = {"label": f"{PROJECT_LABEL}={system.spec.docker.project}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
    }


@pytest.fixture
def nothing_left(client, system):
    """A test starts from nothing of ours and must leave nothing behind."""
    assert ours(client, system) == {"containers": [], "networks": [], "volumes": []}, "left by an earlier run"
    yield
    assert ours(client, system) == {"containers": [], "networks": [], "volumes": []}


@pytest.fixture
def stack(nothing_left, system, tmp_path):
    rt = make_runtime("docker", system, tmp_path / "state", {"CHAOS_BREAKERS": "on"})
    try:
        rt.up()
        yield rt
    finally:
        rt.down()


def events(client, since: float, until: float) -> list[dict]:
    """Container events between two moments of this machine's clock, without
    the exec_* and health_status events the healthchecks make all the time."""
    found = client.events(since=f"{since:.9f}", until=f"{until:.9f}", decode=True, filters={"type": "container"})
    return [e for e in found if not e["Action"].startswith(("exec_", "health_status"))]


@contextmanager
def watching_events(client) -> Iterator[list[dict]]:
    """Container events while the block runs, read live as they happen.
    Asking afterwards (since/until) reads the engine's ring of recent events,
    about a thousand: fifteen containers' healthchecks every 2 s (and another
    stack's on the same engine) push a scenario's SIGKILL out of it within a
    minute."""
    found: list[dict] = []
    stream = client.events(decode=True, filters={"type": "container"})  # subscribed on return

    def read() -> None:
        try:
            for e in stream:
                if not e["Action"].startswith(("exec_", "health_status")):
                    found.append(e)
        except Exception:  # noqa: BLE001 - the stream closed under us: done
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield found
    finally:
        time.sleep(0.5)  # let the engine publish what the block's last act caused
        stream.close()
        reader.join(5)


def service_of(event: dict) -> str:
    return event["Actor"]["Attributes"].get("io.flask-chaos.service", "?")


def chaos(*args: str) -> subprocess.CompletedProcess:
    return run_chaos(*args, runtime="docker", timeout=240)


def test_a_kill_shows_in_docker_events_as_a_kill_of_orders_only(stack, client):
    orders = stack.container_id("orders")
    since = time.time()
    stack.kill("orders")
    time.sleep(0.5)  # let the daemon publish what followed the kill
    seen = events(client, since, time.time())
    assert [(e["Action"], service_of(e)) for e in seen] == [("kill", "orders"), ("die", "orders")], seen
    kill = seen[0]
    assert kill["Actor"]["ID"] == orders and kill["Actor"]["Attributes"]["signal"] == "9"
    assert stack.status("orders") is Status.STOPPED
    assert all(stack.status(u) is Status.RUNNING for u in [TOXIPROXY, "gateway", "users", "inventory"])


# orders-http-500s: HTTP faults reach the agent in a container through the
# port proxy, allowed by the run's agent token (not loopback).
@pytest.mark.parametrize("scenario", ["order-down", *(pytest.param(s, marks=pytest.mark.long) for s in ("order-slow", "orders-http-500s"))])
def test_scenario_passes_on_docker_and_kills_only_what_it_says(scenario, nothing_left, client, system, tmp_path):
    """Every scenario that passes on the local runtime passes on Docker, and
    the only SIGKILLs the engine saw are the ones the scenario's kill faults
    name (order-slow has none: its latency lives in Toxiproxy). The stack is
    up before the run: eight containers still settling after their health
    checks pass keep two cores busy for seconds, and the run's load then
    lags its schedule past the bound (CI: lag p99 120-186 ms in the first
    8 s, every latency check UNKNOWN, rightly). `chaos down` removing what
    `up` made is test_up_down_through_the_cli_leaves_no_container_network_or_volume."""
    try:
        assert chaos("up").returncode == 0
        with watching_events(client) as seen:
            result = chaos("run", scenario, "--reports", str(tmp_path))
    finally:
        chaos("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "runtime docker" in result.stdout and "gateway->orders  closed -> open" in result.stdout
    kills = [service_of(e) for e in seen if e["Action"] == "kill" and e["Actor"]["Attributes"].get("signal") == "9"]
    wanted = [f.service for f in load_scenario(ROOT / "scenarios" / f"{scenario}.yaml", system).faults if f.kind == "kill"]
    assert kills == wanted
    # What the containers' own processes got of the machine, as on the local
    # runtime (the checks weigh a latency fail by it): each container's main
    # process and those under it, found in this machine's /proc.
    (folder,) = [p for p in tmp_path.iterdir() if (p / "verdicts.json").exists()]
    units = json.loads((folder / "verdicts.json").read_text())["machine"]["units"]
    assert {"all", "before", "during", "after"} <= set(units) and all(units[k]["cores"] > 0.05 for k in ("before", "during", "after")), units


@pytest.mark.long  # make test-long: make test keeps order-down on Docker (all eight units up), under 20 minutes
def test_broker_down_passes_on_docker_with_every_promised_email_sent_once(nothing_left, client, system, tmp_path):
    """The async path in containers: Redis, the Celery worker and the SMTP
    sink as units of the compose project, reached through Toxiproxy by name.
    With users' and orders' proxies to Redis down for 10 s, registrations and
    orders are answered as fast as before, the relays' breakers open, and
    every e-mail promised arrives at the sink once after Redis is back. No
    container is killed: the fault lives in Toxiproxy."""
    with watching_events(client) as seen:
        result = chaos("run", "broker-down", "--reports", str(tmp_path))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "runtime docker" in out
    assert "users->redis  closed -> open" in out and "orders->redis  closed -> open" in out
    (folder,) = [p for p in tmp_path.iterdir() if (p / "verdicts.json").exists()]
    found = {v["check"]: v for v in json.loads((folder / "verdicts.json").read_text())["verdicts"]}
    assert all(v["status"] == "pass" for v in found.values()), found
    delivered = found["promised messages delivered once within 30 s"]["figures"]
    assert delivered["promised"] > 100 and delivered["missing"] == delivered["doubled"] == 0, delivered
    assert not [service_of(e) for e in seen if e["Action"] == "kill" and e["Actor"]["Attributes"].get("signal") == "9"]
    assert "redis" in {service_of(e) for e in seen if e["Action"] == "destroy"}  # the events were read
    print("\nbroker-down on docker: " + "; ".join(v["evidence"] for v in found.values()))


def test_refuses_a_container_without_our_labels_and_leaves_it_running(nothing_left, client, system, tmp_path):
    """A container that claims to be the project's orders service through the
    compose labels, but lacks ours, is refused by name and left alone; so is
    a plain one named like compose's own."""
    project = system.spec.docker.project
    impostor = client.containers.run(
        "flask-chaos/python:3.11", ["sleep", "300"], detach=True, name="flask-chaos-test-impostor",
        labels={PROJECT_LABEL: project, "com.docker.compose.service": "orders"},
    )
    plain = client.containers.run("flask-chaos/python:3.11", ["sleep", "300"], detach=True, name=f"{project}_orders_1")
    try:
        rt = make_runtime("docker", system, tmp_path / "state")
        with pytest.raises(SetupError, match="refusing to touch container flask-chaos-test-impostor"):
            rt.kill("orders")
        with pytest.raises(SetupError, match="refusing to touch container flask-chaos-test-impostor"):
            rt.down()  # compose would remove every container with the project label
        impostor.remove(force=True)
        with pytest.raises(SetupError, match="cannot kill orders: it is not running under this runtime"):
            rt.kill("orders")  # found by labels only: the name alone makes nothing ours
        assert rt.status("orders") is Status.STOPPED
        rt.down()
        plain.reload()
        assert plain.status == "running" and client.containers.list(filters={"name": plain.name})
    finally:
        for c in (impostor, plain):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def test_partition_cuts_a_service_off_and_reconnect_restores_its_name(stack, system):
    """Through the partition fault: orders keeps running but nobody reaches
    it; after revert, Toxiproxy resolves `orders` again (the alias is back)."""
    gateway = system.entrypoint.base_url
    ctx = FaultContext(system, stack, Toxiproxy(system.spec.toxiproxy.url), History(), "test", Agents(system, stack.agent_token))
    handle = NetworkPartition(kind="network_partition", service="orders", at=0).apply(ctx)
    try:
        assert stack.status("orders") is Status.RUNNING
        with pytest.raises(requests.RequestException):
            requests.get(system.services["orders"].base_url + "/health", timeout=1)
        answer = requests.get(f"{gateway}/api/users/1/orders", timeout=5)
        assert answer.status_code == 503 and answer.headers.get("X-Fallback") is not None, answer.text
    finally:
        assert handle.revert() == "reconnected orders"
    # Toxiproxy dials `orders` anew for each connection and Docker's resolver
    # answers the restored alias at once; the gateway's own answer may still
    # be one fallback while its pooled connection to the proxy is replaced, so
    # the claim is "served again within seconds", with the time it took shown.
    answer, took = settle(lambda: requests.get(f"{gateway}/api/users/1/orders", timeout=5), lambda r: r.status_code == 200, within=5)
    assert answer.status_code == 200, (round(took, 2), answer.status_code, answer.text)
    assert requests.get(system.services["orders"].base_url + "/health", timeout=2).status_code == 200


def test_the_local_runtime_cannot_partition(system, tmp_path):
    ctx = FaultContext(system, make_runtime("local", system, tmp_path), Toxiproxy(system.spec.toxiproxy.url), History(), "t", Agents(system))
    with pytest.raises(SetupError, match="--runtime docker"):
        NetworkPartition(kind="network_partition", service="orders", at=0).apply(ctx)


def test_up_down_through_the_cli_leaves_no_container_network_or_volume(nothing_left, client, system):
    up = chaos("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        found = ours(client, system)
        # Toxiproxy, and each service with the holder of its network namespace.
        assert len(found["containers"]) == 1 + 2 * len(system.services)
        assert found["networks"] == [f"{system.spec.docker.project}_{system.spec.docker.network}"]
        assert len(found["volumes"]) == 5  # one per unit with a database: users, orders, inventory, mailer, notifications
        status = chaos("status")
        assert status.stdout.count("running") == 1 + len(system.services), status.stdout
    finally:
        down = chaos("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped " + ", ".join(reversed([TOXIPROXY, *system.services])) in down.stdout
