"""The load generator in a process of its own (chaos.engine.load_process):
its records reach the runner's history as the in-process generator's do, it
runs in a session of its own, it ends with the run however the run ends, and
a generator that dies mid-run leaves a delivery that says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.engine import load_process
from chaos.engine.load_process import Load
from chaos.history import History, LoadDelivery, Request
from chaos.history.queries import not_delivered
from tests.unit.test_load_engine import run_load as run_engine, server, system  # noqa: F401 - `server` is a fixture

ROOT = Path(__file__).resolve().parents[2]


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a child of this process: reap it, or it stays as a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def run_load(url: str, seconds: float, **kw) -> tuple[History, Load]:
    return run_engine(url, seconds, engine=Load, **kw)


def test_the_records_and_the_delivery_come_back_as_the_generator_wrote_them(server):
    history, load = run_load(server, 1.0)
    firsts = [r for r in history.of(Request) if r.attempt == 1]
    d = history.of(LoadDelivery)
    assert len(d) == 1 and d[0] == load.delivery
    assert d[0].asked == 40 and d[0].sent == len(firsts) and 36 <= d[0].delivered <= 44
    assert {r.route for r in firsts} == {"ok", "fb", "w"}
    assert all(r.status == 503 and r.fallback == "gateway->orders" for r in firsts if r.route == "fb")
    # Every write the server saw fails once, then its retry is stored. (A first
    # attempt that timed out on a starved machine never reached it: its retry
    # is the one that gets the 500.)
    refused = {r.write_key for r in firsts if r.route == "w" and r.status == 500}
    retries = [r for r in history.of(Request) if r.attempt == 2 and r.write_key in refused]
    assert retries and all(r.status == 201 and r.write_id == r.write_key for r in retries)
    assert d[0].lag_max == pytest.approx(max(r.t_start - r.t_sched for r in firsts), abs=1e-6)
    load.stop()  # twice: nothing more
    assert len(history.of(LoadDelivery)) == 1


def test_records_arrive_while_the_load_runs_not_only_at_its_end(server):
    history = History()
    load = Load(system(server), {"ok": 1}, 40, 2.0, history, 3, max_lag=0.1)
    load.start()
    try:
        # Streamed, not batched at the end: a few dozen records reach the
        # history while the load still runs. Waited for, not counted after a
        # fixed second: on a starved machine (the unit lane at the lowest
        # priority beside the integration tests) the test's own server
        # answered only 21 requests in the first second.
        deadline = time.monotonic() + 10.0
        while len(history.of(Request)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        live = len(history.of(Request))
        running = load._child is not None and load._child.proc.poll() is None
    finally:
        load.stop()
    assert live >= 30 and running, f"only {live} records arrived while the load ran (generator running: {running})"


def test_the_generator_runs_in_a_session_of_its_own_and_ends_with_the_load(server):
    history = History()
    load = Load(system(server), {"ok": 1}, 20, 2.0, history, 3, max_lag=0.1)
    load.start()
    pid = load._child.proc.pid
    try:
        assert os.getsid(pid) == pid != os.getsid(0)
    finally:
        load.stop()
    assert _gone(pid, 1.0)


def test_a_prepared_generator_is_taken_by_the_next_load_and_discarded_otherwise(server):
    load_process.prepare()
    prepared = load_process._prepared
    assert prepared is not None and prepared.proc.poll() is None
    load_process.prepare()  # once is enough
    assert load_process._prepared is prepared
    history, load = run_load(server, 0.3, mix={"ok": 1})
    assert load._child is prepared and load_process._prepared is None and history.of(Request)
    load_process.prepare()
    spare = load_process._prepared.proc.pid
    load_process.discard()
    assert load_process._prepared is None and _gone(spare, 1.0)


@pytest.mark.parametrize("argv, prepared", [
    (["run", "order-down"], True),
    (["--port-offset", "auto", "run", "order-down", "--keep-up"], True),
    (["--runtime", "docker", "--system", "run", "run", "x"], True),  # a value named `run` is a value
    (["--system=s.yaml", "run", "x"], True),
    (["run", "order-down", "--dry-run"], False),
    (["run", "--help"], False),
    (["up"], False),
    (["--runtime", "run", "up"], False),
    ([], False),
])
def test_only_a_run_that_sends_load_prepares_a_generator(monkeypatch, argv, prepared):
    calls = []
    monkeypatch.setattr(load_process, "prepare", lambda fork=False: calls.append(fork))
    load_process.prepare_for(argv)
    assert bool(calls) == prepared


def test_a_generator_that_dies_mid_run_leaves_a_delivery_that_says_so(server):
    history = History()
    load = Load(system(server), {"ok": 1}, 40, 2.0, history, 3, max_lag=0.1)
    load.start()
    time.sleep(0.5)
    os.kill(load._child.proc.pid, signal.SIGKILL)
    time.sleep(1.0)
    load.stop()
    d = load.delivery
    assert d is not None and history.of(LoadDelivery) == [d]
    assert d.sent == len([r for r in history.of(Request) if r.attempt == 1]) and d.delivered < 0.95 * 40
    assert "load not delivered: asked 40 req/s" in (not_delivered(history) or "")


@pytest.mark.parametrize("fork", [False, True], ids=["started", "forked"])
def test_the_generator_dies_with_a_runner_that_is_killed(server, tmp_path, fork):
    """SIGKILL leaves the runner no chance to stop it: the kernel does (or the
    end of its input), whether it was started or forked (chaos.server)."""
    script = tmp_path / "runner.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import chaos.engine.load\n"
        "from chaos.engine import load_process\n"
        "from chaos.engine.load_process import Load\n"
        "from chaos.history import History\n"
        "from tests.unit.test_load_engine import system\n"
        f"load_process.prepare(fork={fork})\n"
        "load = Load(system(sys.argv[1]), {'ok': 1}, 20, 2.0, History(), 3, max_lag=0.1)\n"
        "load.start()\n"
        "print(load._child.proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    runner = subprocess.Popen([sys.executable, str(script), server], stdout=subprocess.PIPE, text=True)
    try:
        child = int(runner.stdout.readline())
        os.kill(child, 0)  # running
        runner.kill()
        runner.wait()
        assert _gone(child), "the generator outlived the runner that was killed"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


def test_a_generator_forked_from_a_warm_process_works_as_a_started_one(server, tmp_path):
    """chaos.server's child forks the generator (its imports done) instead
    of starting an interpreter: the same records come back, from a session
    of its own, and it ends with the load. Forked in a process of its own:
    this one runs threads."""
    script = tmp_path / "warm.py"
    script.write_text(
        "import json, os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import chaos.engine.load\n"
        "from chaos.engine import load_process\n"
        "from chaos.engine.load_process import Load\n"
        "from chaos.history import History, LoadDelivery, Request\n"
        "from tests.unit.test_load_engine import system\n"
        "load_process.prepare(fork=True)\n"
        "child = load_process._prepared\n"
        "history = History()\n"
        "load = Load(system(sys.argv[1]), {'ok': 1}, 40, 2.0, history, 3, max_lag=0.1)\n"
        "load.start()\n"
        "pid = load._child.proc.pid\n"
        "own_session = os.getsid(pid) == pid != os.getsid(0)\n"
        "time.sleep(1.0)\n"
        "load.stop()\n"
        "print(json.dumps({'forked': type(child.proc).__name__, 'taken': load._child is child, 'own_session': own_session,\n"
        "                  'ended': child.proc.poll() is not None, 'ok': sum(r.status == 200 for r in history.of(Request)),\n"
        "                  'deliveries': len(history.of(LoadDelivery))}))\n"
    )
    done = subprocess.run([sys.executable, str(script), server], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["forked"] == "Forked" and result["taken"] and result["own_session"] and result["ended"], result
    assert result["ok"] >= 30 and result["deliveries"] == 1, result
