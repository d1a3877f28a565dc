"""The warm server (chaos.server), with real processes and a real socket:
a run it forks is the caller's command (its folder, environment, output and
exit code); it declines and exits when the toolkit's sources change, and it
ends with its stack. Signals and a killed client, on the real stack:
tests/integration/test_kill_runner.py (its runs go through the server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos import server
from chaos.runtime.local import LocalRuntime
from chaos.spec import load_system

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path):
    """A state folder that records a stack (the server lives as long as it does) and a server for it."""
    state = tmp_path / "state"
    state.mkdir()
    # A unit that is not ours (pid 1 started at another time): `down` leaves it alone.
    unit = {"name": "x", "pid": 1, "start_ticks": -1, "command": [], "log": "", "fingerprint": ""}
    (state / "local.json").write_text(json.dumps({"units": {"x": unit}}))
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.py").write_text("x = 1\n")
    proc = server.spawn(str(state), str(sources))
    try:
        assert server.ready(str(state), proc), (state / "logs" / "cli-server.log").read_text()
        yield state
    finally:
        server.stop(str(state))
        proc.wait(5)


def chaos(state: Path, *args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaos", "--state", str(state), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def served(state: Path) -> list[str]:
    return [line for line in (state / "logs" / "cli-server.log").read_text().splitlines() if ": chaos " in line]


@pytest.mark.parametrize("argv, expected", [
    (["run", "x"], ".chaos"),
    (["--system", "/a/b/system.yaml", "run", "x"], "/a/b/.chaos"),
    (["--state", "/s", "run", "x"], "/s"),
    (["--port-offset", "3", "run", "x"], ".chaos/offset-3"),
    (["--port-offset", "auto", "run", "x"], None),
])
def test_the_state_folder_is_the_one_the_command_would_use(argv, expected):
    found = server.state_dir_for(argv, {})
    if expected is None:
        assert found is None
    else:
        assert found == os.path.abspath(expected)


def test_a_state_folder_too_deep_for_a_unix_socket_is_said_so(tmp_path):
    assert server.unavailable(str(tmp_path)) is None
    deep = tmp_path / ("x" * 120)
    assert "more than a unix socket takes" in server.unavailable(str(deep))
    assert server.run_warm(["--state", str(deep), "run", "x"]) is None


def test_without_a_server_or_with_warm_off_the_command_runs_in_its_own_interpreter(tmp_path, monkeypatch):
    assert server.run_warm(["--state", str(tmp_path), "run", "x"]) is None  # no socket there
    monkeypatch.setenv("CHAOS_WARM", "off")
    assert server.run_warm(["run", "x"]) is None


def test_a_run_is_forked_with_the_callers_folder_environment_output_and_exit_code(state, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "bad.yaml").write_text("name: bad\nduration: 5\nbogus: 1\n")
    # The folder: a relative scenario path is found, and named as given.
    done = chaos(state, "run", "bad.yaml", cwd=work, env={"CHAOS_SYSTEM": str(ROOT / "system.yaml")})
    assert done.returncode == 2, done.stderr
    assert "bad.yaml:3: bogus: unknown field" in done.stderr
    # The environment: the system file comes from the caller's CHAOS_SYSTEM.
    done = chaos(state, "run", "no-such", cwd=work, env={"CHAOS_SYSTEM": str(ROOT / "system.yaml")})
    assert done.returncode == 2 and "no scenario 'no-such'" in done.stderr and "order-down" in done.stderr
    lines = served(state)
    assert len(lines) == 2 and lines[0].endswith(f"chaos --state {state} run bad.yaml"), lines


def test_a_changed_source_makes_the_server_decline_and_exit(state, tmp_path):
    source = tmp_path / "sources" / "a.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    done = chaos(state, "run", "no-such", env={"CHAOS_SYSTEM": str(ROOT / "system.yaml")})
    assert done.returncode == 2 and "no scenario 'no-such'" in done.stderr  # run by the client itself
    assert served(state) == []
    deadline = time.monotonic() + 5
    while server.running(str(state)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.running(str(state)) is None and not (state / server.SOCKET).exists()
    assert "sources changed: exiting" in (state / "logs" / "cli-server.log").read_text()


def test_the_server_ends_with_its_stack(state):
    (state / "local.json").write_text(json.dumps({"units": {}}))  # stopped by other means than `down`
    deadline = time.monotonic() + 5
    while server.running(str(state)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.running(str(state)) is None and not (state / server.SOCKET).exists()


def test_the_local_runtimes_down_stops_it(state):
    pid = server.running(str(state))
    assert pid
    LocalRuntime(load_system(ROOT / "system.yaml"), state).down()
    assert server.running(str(state)) is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def test_up_replaces_a_server_whose_sources_changed(state, tmp_path):
    """`chaos up` after an edit: a fresh server, not one that would decline every run."""
    sources = tmp_path / "sources"
    old = server.running(str(state))
    assert server.spawn(str(state), str(sources)) is None  # unchanged: kept
    (sources / "a.py").write_text("x = 2  # edited\n")
    proc = server.spawn(str(state), str(sources))
    assert proc is not None and server.ready(str(state), proc)
    assert server.running(str(state)) == proc.pid != old
