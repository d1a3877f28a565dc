"""The Docker runtime's unit pids, for the run's CPU figures: a container's
main process as this machine's /proc shows it, and never another process
that happens to have its number here (an engine in a VM, on another host,
in another pid namespace). No engine: its container lookup is a stub."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

import chaos.runtime.docker as docker_runtime
from chaos.runtime.docker import DockerRuntime, _when
from chaos.runtime.process import started_at


def rfc3339(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


@pytest.fixture
def process():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def runtime_with(containers: dict, asked: list) -> DockerRuntime:
    rt = DockerRuntime.__new__(DockerRuntime)  # no system file, no engine: only what pid() uses
    rt._pids, rt._pid_misses = {}, 0

    def container(name):
        asked.append(name)
        return containers.get(name)

    rt._container = container
    return rt


def container(pid: int, at: float, running: bool = True):
    return SimpleNamespace(id="c0ffee" * 10, attrs={"State": {"Pid": pid, "StartedAt": rfc3339(at), "Running": running}})


def test_the_engines_time_reads_to_the_microsecond():
    assert _when("2026-12-02T12:00:00.123456789Z") == pytest.approx(1796212800.123457, abs=1e-6)
    assert _when("2026-12-02T12:00:00Z") == 1796212800.0
    assert _when("not a time") is None


def test_a_pid_is_taken_when_proc_shows_it_started_with_the_container_and_asked_for_again_only_when_it_ends(process, monkeypatch):
    monkeypatch.setattr(docker_runtime, "_in_cgroup_of", lambda pid, cid: pid == process.pid and cid.startswith("c0ffee"))
    asked: list[str] = []
    rt = runtime_with({"orders": container(process.pid, started_at(process.pid))}, asked)
    assert rt.pid("orders") == process.pid and rt.pid("orders") == process.pid
    assert asked == ["orders"]  # the second came from what /proc still shows
    process.kill()
    process.wait()
    assert rt.pid("orders") is None and asked == ["orders", "orders"]


def test_a_pid_that_started_at_another_time_here_or_in_another_cgroup_is_not_the_containers(process, monkeypatch):
    monkeypatch.setattr(docker_runtime, "_in_cgroup_of", lambda pid, cid: True)
    asked: list[str] = []
    # The engine's process started an hour before the one with its number here: a VM's, another host's.
    rt = runtime_with({"orders": container(process.pid, started_at(process.pid) - 3600)}, asked)
    assert [rt.pid("orders") for _ in range(5)] == [None] * 5
    assert asked == ["orders"] * 3  # then it stops asking the engine every second
    monkeypatch.setattr(docker_runtime, "_in_cgroup_of", lambda pid, cid: False)
    rt = runtime_with({"orders": container(process.pid, started_at(process.pid))}, [])
    assert rt.pid("orders") is None


def test_a_stopped_or_missing_container_has_no_pid(process, monkeypatch):
    monkeypatch.setattr(docker_runtime, "_in_cgroup_of", lambda pid, cid: True)
    rt = runtime_with({"orders": container(process.pid, time.time(), running=False)}, [])
    assert rt.pid("orders") is None and rt.pid("users") is None and rt._pid_misses == 0
