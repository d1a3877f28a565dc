"""The local runtime's launcher (chaos/launcher.py, the system file's
local.preload): a service forked from it is what `python -m module` would
have started, and a preload it cannot honour is refused, naming the field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chaos.errors import ConfigError
from chaos.runtime.local import Launcher
from chaos.spec import load_system
from tests.prometheus import free_port

# Ports of its own, not fixed ones: the integration tests beside this lane
# start whole stacks at free offsets (`--port-offset auto`), and a fixed
# port here was once one of theirs ("18002 is already in use").
TOXI_PORT, PROBE_PORT, PLAIN_PORT = free_port(), free_port(), free_port()

SYSTEM = textwrap.dedent(
    """\
    name: forked
    toxiproxy:
      url: http://127.0.0.1:@TOXI_PORT@
      command: [toxiproxy-server, -port, "@TOXI_PORT@"]
      proxies: proxies.json
    services:
      probe:
        command: ["{python}", -m, probe, first, "second arg"]
        port: @PROBE_PORT@
    entrypoint: probe
    routes:
      page: {path: /page}
    local:
      preload: PRELOAD
    """
)

# What a unit sees of itself, written where the test reads it; exits 3,
# after an atexit handler and a non-daemon thread that must both have run.
PROBE = textwrap.dedent(
    """\
    import atexit, json, os, random, sys, threading, time
    out = os.environ["PROBE_OUT"]
    seen = {
        "name": __name__,
        "argv": sys.argv,
        "path0": sys.path[0],
        "cwd": os.getcwd(),
        "env": os.environ.get("PROBE_VALUE"),
        "launcher_only": os.environ.get("ONLY_IN_LAUNCHER"),
        "leader": os.getpgid(0) == os.getpid() and os.getsid(0) == os.getpid(),
        "stdin_is_null": os.path.samestat(os.fstat(0), os.stat(os.devnull)),
        "cmdline": open("/proc/self/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip(),
        "random": random.random(),
        "preloaded": "json.tool" in sys.modules,
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    }
    def late():
        time.sleep(0.2)
        with open(out + ".thread", "w") as f:
            f.write("joined")
    threading.Thread(target=late).start()
    atexit.register(lambda: open(out + ".atexit", "w").write("ran"))
    with open(out, "w") as f:
        json.dump(seen, f)
    print("to stdout", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    sys.exit(3)
    """
)


def system_with(tmp_path: Path, preload: list[str]):
    (tmp_path / "proxies.json").write_text("[]")
    text = SYSTEM.replace("PRELOAD", json.dumps(preload)).replace("@TOXI_PORT@", str(TOXI_PORT)).replace("@PROBE_PORT@", str(PROBE_PORT))
    (tmp_path / "system.yaml").write_text(text)
    (tmp_path / "probe").mkdir(exist_ok=True)
    (tmp_path / "probe" / "__init__.py").write_text("")
    (tmp_path / "probe" / "__main__.py").write_text(PROBE)
    return load_system(tmp_path / "system.yaml")


def wait_for(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"{path} was not written within {timeout} s"


def gone(pid: int, timeout: float = 15.0) -> None:
    """Wait until the unit has ended and been collected (by its launcher)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"unit {pid} is still there after {timeout} s: {Path(f'/proc/{pid}/stat').read_text()}")


def test_a_forked_unit_is_what_python_dash_m_would_have_started(tmp_path, monkeypatch):
    system = system_with(tmp_path, ["json.tool"])
    argv = [sys.executable, "-m", "probe", "first", "second arg"]
    monkeypatch.setenv("ONLY_IN_LAUNCHER", "leaks")  # the launcher's environment, not the unit's
    launcher = Launcher(tmp_path, system.spec.local.preload, system)
    monkeypatch.delenv("ONLY_IN_LAUNCHER")
    pids = []
    try:
        for n in (1, 2):
            env = {**os.environ, "PROBE_OUT": str(tmp_path / f"forked{n}.json"), "PROBE_VALUE": f"v{n}"}
            pids.append(launcher.spawn(argv, env, tmp_path / f"forked{n}.log"))
    finally:
        launcher.close()
    for pid in pids:
        gone(pid)  # collected: no zombie left for init
    assert launcher.proc.wait(timeout=5) == 0  # and its launcher ends with the last of them
    plain = subprocess.run(argv, cwd=tmp_path, env={**os.environ, "PROBE_OUT": str(tmp_path / "plain.json"), "PROBE_VALUE": "v1"},
                           stdin=subprocess.DEVNULL, capture_output=True, start_new_session=True)
    assert plain.returncode == 3

    forked = json.loads((tmp_path / "forked1.json").read_text())
    expected = json.loads((tmp_path / "plain.json").read_text())
    for key in ("name", "argv", "path0", "cwd", "env", "launcher_only", "leader", "stdin_is_null", "cmdline"):
        assert forked[key] == expected[key], key
    assert forked["name"] == "__main__" and forked["argv"][1:] == ["first", "second arg"]
    assert forked["path0"] == str(tmp_path) and forked["launcher_only"] is None
    assert forked["cmdline"] == " ".join(argv)  # not the launcher's: ps, and the agent, see the unit
    assert forked["fds"] == [0, 1, 2, 3]  # the three, and the one that lists them: nothing of the launcher's
    assert forked["preloaded"] and not expected["preloaded"]
    assert json.loads((tmp_path / "forked2.json").read_text())["env"] == "v2"
    assert forked["random"] != json.loads((tmp_path / "forked2.json").read_text())["random"]
    for n in (1, 2):
        assert (tmp_path / f"forked{n}.json.atexit").read_text() == "ran"
        assert (tmp_path / f"forked{n}.json.thread").read_text() == "joined"
        log = (tmp_path / f"forked{n}.log").read_text()
        assert "to stdout" in log and "to stderr" in log
        assert log.endswith(f" pid {pids[n - 1]} ended: exit code 3\n")  # its parent says how it ended


def test_a_unit_stops_on_sigterm_like_any_process(tmp_path):
    system = system_with(tmp_path, [])
    (tmp_path / "sleeper.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    launcher = Launcher(tmp_path, system.spec.local.preload, system)
    try:
        pid = launcher.spawn([sys.executable, "-m", "sleeper"], dict(os.environ), tmp_path / "sleeper.log")
    finally:
        launcher.close()
    log = tmp_path / "sleeper.log"
    wait_until = time.monotonic() + 15
    while not (log.exists() and "up" in log.read_text()) and time.monotonic() < wait_until:
        time.sleep(0.02)
    assert "up" in log.read_text()
    assert launcher.proc.poll() is None  # the unit's parent while it runs
    os.killpg(pid, signal.SIGTERM)
    gone(pid)
    assert launcher.proc.wait(timeout=5) == 0
    assert log.read_text().endswith(f" pid {pid} ended: killed by SIGTERM\n")


def test_a_unit_killed_outright_has_its_end_written_in_its_log(tmp_path):
    # A SIGKILLed service writes nothing itself; its launcher is the one
    # process that knows (a CI run once lost a gateway without a word).
    system = system_with(tmp_path, [])
    (tmp_path / "sleeper.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    launcher = Launcher(tmp_path, system.spec.local.preload, system)
    try:
        pids = [launcher.spawn([sys.executable, "-m", "sleeper"], dict(os.environ), tmp_path / f"s{n}.log") for n in (1, 2)]
    finally:
        launcher.close()
    for n in (1, 2):
        log = tmp_path / f"s{n}.log"
        wait_until = time.monotonic() + 15
        while not (log.exists() and "up" in log.read_text()) and time.monotonic() < wait_until:
            time.sleep(0.02)
        assert "up" in log.read_text()
    os.killpg(pids[0], signal.SIGKILL)
    gone(pids[0])
    deadline = time.monotonic() + 5
    while "ended" not in (tmp_path / "s1.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "s1.log").read_text().endswith(f"pid {pids[0]} ended: killed by SIGKILL\n")
    assert "ended" not in (tmp_path / "s2.log").read_text()  # the other one's log says nothing of it
    os.killpg(pids[1], signal.SIGKILL)
    gone(pids[1])
    assert launcher.proc.wait(timeout=5) == 0


def test_a_module_that_does_not_import_is_refused_naming_its_line(tmp_path):
    system = system_with(tmp_path, ["json", "no_such_module_here"])
    launcher = Launcher(tmp_path, system.spec.local.preload, system)
    try:
        with pytest.raises(ConfigError) as e:
            launcher.spawn([sys.executable, "-m", "probe"], dict(os.environ), tmp_path / "x.log")
    finally:
        launcher.close()
    assert e.value.path == tmp_path / "system.yaml" and e.value.line == 14
    assert e.value.field == "local.preload[1]"
    assert "cannot import no_such_module_here: ModuleNotFoundError" in str(e.value)
    assert not (tmp_path / "x.log").exists()  # nothing was started


def test_a_module_that_starts_a_thread_is_refused(tmp_path):
    (tmp_path / "spawns_thread.py").write_text("import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n")
    system = system_with(tmp_path, ["spawns_thread"])
    launcher = Launcher(tmp_path, system.spec.local.preload, system)
    try:
        with pytest.raises(ConfigError, match="importing spawns_thread started threads .*cannot be forked safely"):
            launcher.spawn([sys.executable, "-m", "probe"], dict(os.environ), tmp_path / "x.log")
    finally:
        launcher.close()


def test_a_preload_entry_must_be_a_module_name(tmp_path):
    with pytest.raises(ConfigError) as e:
        system_with(tmp_path, ["flask", "flask app"])
    assert "local.preload" in str(e.value) and "'flask app' is not a module name" in str(e.value)
    assert e.value.line == 14


def test_only_this_interpreters_dash_m_commands_are_forked_and_by_their_own_preload(tmp_path):
    from chaos.runtime.local import LocalRuntime, Unit

    def unit(*command: str, name: str = "probe") -> Unit:
        return Unit(name, list(command), tmp_path, {}, "127.0.0.1", 1, lambda: True, 1.0)

    runtime = LocalRuntime(system_with(tmp_path, ["json"]), tmp_path / "state")
    assert runtime._launch_key(unit(sys.executable, "-m", "gunicorn", "app:app")) == (tmp_path, ("json",))
    assert runtime._launch_key(unit(sys.executable, "-X", "dev", "-m", "gunicorn")) is None  # options of its own
    assert runtime._launch_key(unit(sys.executable, "app.py")) is None
    assert runtime._launch_key(unit("/other/venv/bin/python", "-m", "gunicorn")) is None  # another interpreter
    assert LocalRuntime(system_with(tmp_path, []), tmp_path / "state")._launch_key(unit(sys.executable, "-m", "gunicorn")) is None

    # A service's own preload instead of local.preload; [] starts it unforked.
    for own, key in (("[email]", (tmp_path, ("email",))), ("[]", None)):
        text = (tmp_path / "system.yaml").read_text().replace(f"    port: {PROBE_PORT}\n", f"    port: {PROBE_PORT}\n    preload: {own}\n")
        (tmp_path / "own.yaml").write_text(text)
        runtime = LocalRuntime(load_system(tmp_path / "own.yaml"), tmp_path / "state")
        assert runtime._launch_key(unit(sys.executable, "-m", "probe")) == key


def test_a_services_own_preload_that_does_not_import_names_its_field(tmp_path):
    system_with(tmp_path, ["json"])
    text = (tmp_path / "system.yaml").read_text().replace(f"    port: {PROBE_PORT}\n", f"    port: {PROBE_PORT}\n    preload: [json, nope_not_here]\n")
    (tmp_path / "own.yaml").write_text(text)
    system = load_system(tmp_path / "own.yaml")
    launcher = Launcher(tmp_path, ["json", "nope_not_here"], system)
    try:
        with pytest.raises(ConfigError) as e:
            launcher.spawn([sys.executable, "-m", "probe"], dict(os.environ), tmp_path / "x.log")
    finally:
        launcher.close()
    assert e.value.field == "services.probe.preload[1]" and e.value.line == 10


def test_a_run_on_a_stopped_stack_starts_the_launcher_before_the_toolkits_imports(tmp_path, monkeypatch):
    from chaos import launcher
    from chaos.runtime.process import start_ticks

    system_with(tmp_path, ["json"])
    file = str(tmp_path / "system.yaml")
    monkeypatch.delenv("RUNTIME", raising=False)
    for argv in (["--system", file, "run", "x", "--dry-run"], ["--system", file, "list"],
                 ["--system", file, "--runtime", "docker", "run", "x"], ["--system", file, "--port-offset", "10", "run", "x"]):
        launcher.prepare_for(argv)
        assert launcher._prepared == {}, argv
    # Every unit recorded still runs (here: this test's own process): a warm run, nothing to start.
    (tmp_path / ".chaos").mkdir()
    (tmp_path / ".chaos" / "local.json").write_text(json.dumps({"units": {"probe": {"pid": os.getpid(), "start_ticks": start_ticks(os.getpid())}}}))
    launcher.prepare_for(["--system", file, "run", "x"])
    assert launcher._prepared == {}
    (tmp_path / ".chaos" / "local.json").unlink()

    launcher.prepare_for(["--system", file, "up"])
    (key, proc), = launcher._prepared.items()
    assert key == (str(tmp_path.resolve()), ("json",))
    assert launcher.take(str(tmp_path), ["json", "os"]) is None  # another preload
    launcher.discard()  # as up() does once its launchers are made: nobody will take this one
    assert proc.wait(timeout=5) != 0 and launcher._prepared == {}

    launcher.prepare_for(["--system", file, "run", "x"])
    (_, proc), = launcher._prepared.items()
    system = load_system(tmp_path / "system.yaml")
    runner = Launcher(tmp_path, system.spec.local.preload, system)  # takes it
    try:
        assert runner.proc is proc
        pid = runner.spawn([sys.executable, "-m", "probe"], {**os.environ, "PROBE_OUT": str(tmp_path / "early.json")}, tmp_path / "early.log")
    finally:
        runner.close()
    gone(pid)
    assert json.loads((tmp_path / "early.json").read_text())["preloaded"] is False  # json.tool was not asked for
    assert proc.wait(timeout=5) == 0


def test_an_up_whose_preload_does_not_import_leaves_nothing_running(tmp_path):
    """`chaos up` with a typo in local.preload: exit 2 naming the line, and
    the units it had already started (here a plain process) are stopped."""
    from chaos.runtime.local import LocalRuntime
    from chaos.runtime.process import Record, is_ours

    system_with(tmp_path, ["json", "no_such_module_here"])
    (tmp_path / "plain.py").write_text("import time\ntime.sleep(60)\n")
    text = (tmp_path / "system.yaml").read_text().replace(
        "services:\n", f"services:\n  plain:\n    command: [\"{{python}}\", plain.py]\n    port: {PLAIN_PORT}\n    preload: []\n", 1)
    (tmp_path / "two.yaml").write_text(text)
    runtime = LocalRuntime(load_system(tmp_path / "two.yaml"), tmp_path / "state")
    runtime._units = {n: u for n, u in runtime._units.items() if n != "toxiproxy"}  # no Toxiproxy needed here
    with pytest.raises(ConfigError, match=r"two.yaml:\d+: local.preload\[1\]: cannot import no_such_module_here"):
        runtime.up()
    plain = Record(**json.loads((tmp_path / "state" / "local.json").read_text())["units"]["plain"])  # it was started
    assert not is_ours(plain)  # and stopped again


def test_a_child_that_ended_is_described_and_any_other_pid_is_not():
    from chaos.runtime.process import how_it_ended

    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    assert how_it_ended(killed.pid) is None  # still running
    killed.kill()
    deadline = time.monotonic() + 10
    seen = {}
    while len(seen) < 2 and time.monotonic() < deadline:
        for proc in (killed, failed):
            seen.setdefault(proc.pid, how_it_ended(proc.pid))
            if seen[proc.pid] is None:
                del seen[proc.pid]
        time.sleep(0.02)
    assert seen == {killed.pid: "killed by SIGKILL", failed.pid: "exit code 4"}
    assert how_it_ended(1) is None  # not ours
