"""The runtime contract, against real processes and real containers.
The same tests run on every backend so they cannot drift: a test that takes
`runtime` runs here on the local runtime, in test_runtime_docker.py on the
Docker runtime and in test_swarm.py on the swarm runtime (each on one stack
for its module, brought back whole before each test); a test that takes
`kind` runs here on the local and the Docker runtime."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from chaos.errors import SetupError
from chaos.runtime import TOXIPROXY, Status, make_runtime
from chaos.runtime.readiness import accepts
from chaos.runtime.process import Record, start_ticks

from ..polling import settle


@pytest.fixture(params=["local", "docker"])
def kind(request) -> str:
    """The backend's name; Docker tests skip without an engine (fail in CI)."""
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
    return request.param


@pytest.fixture
def runtime(system, tmp_path):
    """The local runtime with the system up, for each test anew (it starts in
    about a second). test_runtime_docker.py and test_swarm.py run the same
    tests on one stack per module; tests read URLs from `runtime.system`
    (the swarm one's ports move with $CHAOS_PORT_OFFSET)."""
    rt = make_runtime("local", system, tmp_path / "state", {"CHAOS_BREAKERS": "on"})
    rt.up()
    yield rt
    rt.down()
    for name in [TOXIPROXY, *system.services]:
        assert rt.status(name) is Status.STOPPED, f"{name} left running"


def health(system, name: str, timeout: float = 1.0) -> int | str:
    spec = system.services[name]
    if spec.health_url is None:  # health: tcp
        return 200 if accepts(spec.host, spec.port, timeout=timeout) else "refused"
    try:
        return requests.get(spec.health_url, timeout=timeout).status_code
    except requests.Timeout:
        return "timeout"
    except requests.ConnectionError:
        return "refused"


def test_up_starts_every_unit_healthy_and_is_idempotent(runtime):
    system = runtime.system
    for name in system.services:
        assert runtime.status(name) is Status.RUNNING
        assert health(system, name) == 200
    assert runtime.up() == []  # all already running: nothing started again


def test_kill_makes_callers_see_refusals_and_start_brings_it_back(runtime):
    system = runtime.system
    runtime.kill("orders")
    assert runtime.status("orders") is Status.STOPPED
    assert health(system, "orders") == "refused"
    assert health(system, "users") == 200  # only the target was touched
    runtime.start("orders")
    assert runtime.status("orders") is Status.RUNNING and health(system, "orders") == 200


def test_pause_freezes_so_callers_time_out_and_resume_thaws(runtime):
    system = runtime.system
    runtime.pause("orders")
    assert runtime.status("orders") is Status.PAUSED
    assert health(system, "orders", timeout=0.5) == "timeout"
    runtime.resume("orders")
    assert runtime.status("orders") is Status.RUNNING
    assert health(system, "orders", timeout=5) == 200


def test_restart_gives_a_new_process(runtime):
    system = runtime.system
    before = runtime.identity("inventory")
    assert before is not None
    runtime.restart("inventory")
    assert runtime.identity("inventory") not in (None, before)
    assert health(system, "inventory") == 200


def test_a_paused_unit_can_be_killed_and_comes_back_running(runtime):
    """Docker thaws a paused container as it kills it: either way the unit
    must end up stopped, not paused, and start cleanly."""
    system = runtime.system
    runtime.pause("orders")
    runtime.kill("orders")
    assert runtime.status("orders") is Status.STOPPED and runtime.identity("orders") is None
    runtime.start("orders")
    assert runtime.status("orders") is Status.RUNNING and health(system, "orders") == 200


def test_acting_on_a_stopped_or_unknown_unit_is_a_setup_error(runtime):
    runtime.kill("users")
    with pytest.raises(SetupError, match="not running under this runtime"):
        runtime.kill("users")
    with pytest.raises(SetupError, match="not running under this runtime"):
        runtime.pause("users")
    with pytest.raises(SetupError, match="unknown unit 'nope'"):
        runtime.status("nope")


def test_data_survives_a_kill(runtime):
    system = runtime.system
    gateway = system.entrypoint.base_url
    order = requests.post(f"{gateway}/api/orders", json={"user_id": 1, "sku": "SKU-1", "quantity": 1}, timeout=5)
    assert order.status_code == 201, order.text
    runtime.kill("orders")
    runtime.start("orders")
    # What is judged is the data, not the first call after a restart: in one
    # CI run on Docker that call met the gateway's connection to the killed
    # orders (503), and the next found the order. So ask again, for a while.
    again, _ = settle(lambda: requests.get(f"{gateway}/api/orders/{order.json()['id']}", timeout=5),
                      lambda r: r.status_code == 200, within=5)
    assert again.status_code == 200 and again.json()["client_ref"] == order.json()["client_ref"], again.text


def test_it_never_signals_a_process_it_did_not_start(system, tmp_path):
    """A recorded pid whose start time differs (pid reuse, or a forged state
    file) is not ours: kill refuses and the process lives on."""
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        rt = make_runtime("local", system, tmp_path / "state")
        forged = Record("orders", stranger.pid, (start_ticks(stranger.pid) or 0) + 1, ["sleep"], "/dev/null", "x")
        rt._remember(forged)  # noqa: SLF001 - simulating a stale state file
        with pytest.raises(SetupError, match="not running under this runtime"):
            rt.kill("orders")
        rt.down()
        time.sleep(0.1)
        assert stranger.poll() is None, "a process the toolkit did not start was signalled"
    finally:
        os.kill(stranger.pid, signal.SIGKILL)
        stranger.wait()


def test_a_port_taken_by_a_stranger_is_a_clear_setup_error(kind, system, tmp_path):
    import socket

    if kind == "swarm":  # beside test_swarm.py's stack: ports and a stack name of their own
        from chaos.spec.ports import shifted

        system = shifted(system, int(os.environ.get("CHAOS_PORT_OFFSET") or 0) + 50)

    port = system.services["users"].port
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        rt = make_runtime(kind, system, tmp_path / "state")
        with pytest.raises(SetupError, match=f"127.0.0.1:{port} is already in use"):
            rt.start("users")
    assert rt.status("users") is Status.STOPPED
