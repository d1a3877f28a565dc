"""The swarm runtime's tests share one stack: deploying it (three replicas of
orders and inventory) takes 20-30 s on two cores, so each test starts from
`up()` on the stack the last one left (which brings back whatever it killed)
instead of from nothing. The stack runs on $CHAOS_PORT_OFFSET's ports, as
STACK-OFFSET, so it cannot meet the default one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
        "secrets": [s.name for s in client.secrets.list(filters=label)] if swarm_on else [],
        "configs": [c.name for c in client.configs.list(filters=label)] if swarm_on else [],
    }


@pytest.fixture(scope="session")
def swarm_session(docker_engine, tmp_path_factory):
    """(runtime, the swarm state the engine was in before): one stack for the
    session, removed at its end; the swarm is left again if the runtime joined it."""
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
def swarm_runtime(swarm_session):
    rt, _ = swarm_session
    rt.up()
    return rt
