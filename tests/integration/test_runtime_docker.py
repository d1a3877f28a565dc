"""The runtime contract (test_runtime.py) on the Docker runtime, on one
stack for the module: up takes about 8 s and down about 4 s there, seven
times over in CI when each test had its own. Before each test, up() brings
back whatever the last one killed or paused (it starts what is stopped and
thaws what is paused) and every unit must run again; at the end, down must
leave every unit stopped."""

from __future__ import annotations

import pytest

from chaos.runtime import TOXIPROXY, Status, make_runtime

from .conftest import ROOT

# The shared contract, collected here again with this module's `kind` and `runtime`.
from .test_runtime import (  # noqa: F401
    test_a_paused_unit_can_be_killed_and_comes_back_running,
    test_acting_on_a_stopped_or_unknown_unit_is_a_setup_error,
    test_data_survives_a_kill,
    test_kill_makes_callers_see_refusals_and_start_brings_it_back,
    test_pause_freezes_so_callers_time_out_and_resume_thaws,
    test_restart_gives_a_new_process,
    test_up_starts_every_unit_healthy_and_is_idempotent,
)


@pytest.fixture(scope="module")
def docker_stack(docker_engine, tmp_path_factory):
    from chaos.spec import load_system

    system = load_system(ROOT / "system.yaml")
    rt = make_runtime("docker", system, tmp_path_factory.mktemp("docker") / "state", {"CHAOS_BREAKERS": "on"})
    rt.up()
    yield rt
    rt.down()
    for name in [TOXIPROXY, *system.services]:
        assert rt.status(name) is Status.STOPPED, f"{name} left running"


@pytest.fixture
def kind(docker_engine) -> str:
    return "docker"


@pytest.fixture
def runtime(docker_stack):
    """The module's stack, whole again."""
    docker_stack.up()
    for name in [TOXIPROXY, *docker_stack.system.services]:
        assert docker_stack.status(name) is Status.RUNNING, f"{name} is not running again after up()"
    return docker_stack


def test_a_units_pid_is_its_containers_main_process_here_and_follows_a_restart(runtime):
    """The run's CPU figures count each container's processes
    (chaos.engine.pressure.unit_threads from runtime.pid): gunicorn's master
    and its four workers for orders, found in this machine's /proc; after a
    restart, the new process, never the old number."""
    from chaos.engine.pressure import unit_threads

    pid = runtime.pid("orders")
    assert pid is not None and runtime.container_id("orders") in open(f"/proc/{pid}/cgroup").read()
    threads = unit_threads({pid})
    assert len(threads) >= 5 and pid in threads, threads
    runtime.restart("orders")
    again = runtime.pid("orders")
    assert again is not None and again != pid
    assert runtime.pid("redis") is not None and runtime.pid("redis") not in (pid, again)
