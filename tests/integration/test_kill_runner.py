"""Rollback that survives a killed runner. With the system up (`chaos up`, as
a user leaves it), `chaos run tests/scenarios/kill-me.yaml --keep-up` is sent
SIGINT, SIGTERM or SIGKILL at a random moment (seeded per trial) while its
overlapping faults come and go:

- SIGINT or SIGTERM: the runner must roll back by itself and exit 130, and
  the system must then be clean with no `chaos reset` (every other SIGINT
  trial starts the runner with SIGINT ignored by its parent, every other
  SIGTERM trial sends a second SIGTERM during the rollback);
- SIGKILL: nothing can roll back; `chaos reset` must exit 0 and leave the
  system clean, and a following real run must pass its set-up.

"Clean" is tests/integration/cleanliness.py; a test here first shows it
reporting each kind of dirt on a system dirtied by hand.

KILL_TRIALS (default 2; `make test-long` 3) sets the trials per signal; KILL_SEED the seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from chaos.runtime import make_runtime
from chaos.server import running as running_server
from chaos.spec import load_system
from chaos.clients.toxiproxy import Toxiproxy

from .conftest import run_chaos

from .cleanliness import problems

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".chaos"  # the default state folder, as a user has it
KILL_ME = Path("tests/scenarios/kill-me.yaml")
TINY = Path("tests/scenarios/tiny.yaml")
TRIALS = int(os.environ.get("KILL_TRIALS") or 2)
SEED = int(os.environ.get("KILL_SEED") or 20261123)
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
# From the runner's first line (it has validated and is about to set up) to
# the kill: set-up takes about a second, then load starts and the faults
# overlap from 1 s to 6 s of load.
DELAY = (0.1, 5.0)
ENV = {**os.environ, "BREAKERS": "on", "PYTHONUNBUFFERED": "1", "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}


def chaos(*args: str) -> subprocess.CompletedProcess:
    return run_chaos(*args, timeout=60)


@dataclass
class Runner:
    """A `chaos run` subprocess whose output is read as it comes."""

    proc: subprocess.Popen
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    first_line: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, scenario: Path, reports: Path, sigint_ignored: bool = False) -> Runner:
        """With `sigint_ignored` the runner inherits SIGINT ignored, as from a
        shell script's `cmd &` or some CI agents: Python then leaves it ignored."""
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        proc = subprocess.Popen([sys.executable, "-m", "chaos", "run", str(scenario), "--keep-up", "--reports", str(reports)],
                                cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=ignore)
        runner = cls(proc)
        threading.Thread(target=runner._read, args=(proc.stdout, runner.out, True), daemon=True).start()
        threading.Thread(target=runner._read, args=(proc.stderr, runner.err, False), daemon=True).start()
        return runner

    def _read(self, stream, lines: list[str], signal_first: bool) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            lines.append(line)
            if signal_first:
                self.first_line.set()

    def transcript(self) -> str:
        return "".join(self.out) + "--- stderr ---\n" + "".join(self.err)


@pytest.fixture(scope="module")
def system_up() -> Iterator:
    system = load_system(ROOT / "system.yaml")
    runtime = make_runtime("local", system, STATE, {"CHAOS_BREAKERS": "on"})
    was_up = bool(runtime._records())  # noqa: SLF001 - a user's own `chaos up` stays up
    result = chaos("up")
    assert result.returncode == 0, result.stdout + result.stderr
    # Every run below is forked by the warm server `chaos up` leaves
    # (chaos.server): signals reach it through the client, and a client
    # killed with SIGKILL takes its run with it.
    assert running_server(str(STATE)), result.stdout + result.stderr
    try:
        yield system
    finally:
        if not was_up:
            down = chaos("down")
            assert down.returncode == 0, down.stdout + down.stderr


def test_the_clean_check_reports_each_kind_of_dirt_and_reset_clears_it(system_up, tmp_path):
    """The check can fail: dirt put there by hand is reported, one line for
    each kind, and `chaos reset` clears everything but a foreign orphan."""
    system = system_up
    assert problems(system, STATE) == []
    toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
    runtime = make_runtime("local", system, STATE, {"CHAOS_BREAKERS": "on"})
    toxiproxy.add_toxic("gateway_users", "by-hand", "latency", {"latency": 10})
    toxiproxy.set_enabled("orders_inventory", False)
    runtime.pause("users")
    runtime.kill("inventory")
    toxiproxy.set_enabled("gateway_orders", False)
    for _ in range(8):  # refused calls trip the gateway's breaker for orders
        requests.get(system.entrypoint.base_url + "/api/users/1/orders", timeout=3)
    # An orphan: a "gunicorn" of this checkout that no recorded group holds (double fork: not our child).
    orphan = subprocess.run(["bash", "-c", "(exec -a gunicorn sleep 60 </dev/null >/dev/null 2>&1 & echo $!)"],
                            cwd=ROOT / "services", capture_output=True, text=True, check=True)
    orphan_pid = int(orphan.stdout)
    try:
        found = "\n".join(problems(system, STATE))
        assert "toxic by-hand (latency) on proxy gateway_users" in found
        assert "proxy orders_inventory is disabled" in found and "proxy gateway_orders is disabled" in found
        assert "users is paused" in found
        assert "inventory is not running" in found
        assert "breaker orders of gateway is open" in found
        assert f"orphan pid {orphan_pid}" in found
        began = time.monotonic()
        reset = chaos("reset")
        took = time.monotonic() - began
        assert reset.returncode == 0, reset.stdout + reset.stderr
        print(f"\nreset of a dirtied system: {took:.1f} s:\n{reset.stdout.strip()}")
        for did in ["started inventory", "resumed users", "enabled proxies gateway_orders, orders_inventory",
                    "removed 1 toxics", "restarted gateway to close breakers"]:
            assert did in reset.stdout  # it says what it found, so a user learns what the earlier run left
        assert [p for p in problems(system, STATE) if "orphan" not in p] == []
    finally:
        os.kill(orphan_pid, signal.SIGKILL)
    assert problems(system, STATE) == []


def trials() -> list[tuple[int, signal.Signals]]:
    return [(i, SIGNALS[i % 3]) for i in range(3 * TRIALS)]


@pytest.mark.parametrize("trial,sig", trials(), ids=[f"{i}-{s.name}" for i, s in trials()])
def test_a_runner_killed_at_a_random_moment_leaves_a_clean_system(system_up, tmp_path, trial, sig):
    delay = random.Random(f"{SEED}-{trial}").uniform(*DELAY)
    variant = trial // 3 % 2 == 1
    sigint_ignored = sig is signal.SIGINT and variant  # every other SIGINT trial
    twice = sig is signal.SIGTERM and variant  # every other SIGTERM trial: another one in the rollback, as CI agents send
    runner = Runner.start(KILL_ME, tmp_path / "reports", sigint_ignored)
    detail = " (SIGINT ignored by its parent)" if sigint_ignored else " (and again 0.3 s later)" if twice else ""
    kill_and_judge(system_up, runner, sig, delay, f"{detail} (KILL_SEED={SEED}, trial {trial})", tmp_path, twice)


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_a_runner_killed_in_its_set_up_leaves_a_clean_system(system_up, tmp_path, sig):
    """A breaker left open makes the set-up restart the gateway; the signal
    comes while it does. (A SIGTERM here once gave a traceback and exit 1:
    the rollback stopped a breaker watcher that had never started.)"""
    system = system_up
    toxiproxy = Toxiproxy(system.spec.toxiproxy.url)
    toxiproxy.set_enabled("gateway_orders", False)
    for _ in range(8):  # refused calls trip the gateway's breaker for orders
        requests.get(system.entrypoint.base_url + "/api/users/1/orders", timeout=3)
    toxiproxy.set_enabled("gateway_orders", True)
    assert "breaker orders of gateway is open" in problems(system, STATE)
    delay = random.Random(f"{SEED}-set-up-{sig.name}").uniform(0.0, 0.3)
    kill_and_judge(system, Runner.start(KILL_ME, tmp_path / "reports"), sig, delay, f" in its set-up (KILL_SEED={SEED})", tmp_path)


def kill_and_judge(system, runner: Runner, sig: signal.Signals, delay: float, detail: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                   twice: bool = False) -> None:
    """Send `sig` `delay` seconds after the runner's first line (`twice`: and
    again 0.3 s later, while it rolls back); then the system must be clean:
    by itself after SIGINT or SIGTERM (exit 130), after `chaos reset` for
    SIGKILL, and the next run must pass its set-up."""
    assert runner.first_line.wait(20), runner.transcript()
    time.sleep(delay)
    runner.proc.send_signal(sig)
    if twice:
        time.sleep(0.3)
        if runner.proc.poll() is None:
            runner.proc.send_signal(sig)
    code = runner.proc.wait(timeout=60)
    what = f"{sig.name} {delay:.2f} s after the runner's first line{detail}"
    print(f"\n{what}: exit {code}; last line: {runner.out[-1].strip() if runner.out else ''}")
    if sig is signal.SIGKILL:
        assert code == -signal.SIGKILL
        reset = chaos("reset")
        assert reset.returncode == 0, f"{what}: reset failed:\n{reset.stdout}{reset.stderr}"
        assert problems(system, STATE) == [], f"{what}: not clean after reset:\n{reset.stdout}"
        tiny = chaos("run", str(TINY), "--keep-up", "--reports", str(tmp_path / "reports"))
        assert tiny.returncode in (0, 1) and "chaos: error" not in tiny.stderr, f"{what}: the next run's set-up failed:\n{tiny.stdout}{tiny.stderr}"
        assert any(f"tiny: {word} in" in tiny.stdout for word in ("PASSED", "FAILED", "UNKNOWN")), tiny.stdout
    else:
        assert code == 130, f"{what}: exit {code}\n{runner.transcript()}"
        assert "interrupted; faults reverted" in "".join(runner.err)
    assert problems(system, STATE) == [], f"{what}: not clean:\n{runner.transcript()}"
