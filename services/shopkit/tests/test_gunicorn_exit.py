"""services/gunicorn.conf.py: a cleanly stopped worker and master exit at
once (no interpreter teardown), and every other exit keeps its status.

Real gunicorn processes on a free port, each serving a small app module
written for the test (the shop's own apps are judged by the stack tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2]
CONF = SERVICES / "gunicorn.conf.py"

# An app whose teardown is slow, as a preloaded Flask app's is on busy
# cores: an object that takes a second to free at interpreter exit.
APP = '''
import time

class SlowToFree:
    def __del__(self):
        time.sleep(1.0)

KEEP = SlowToFree()

def create_app():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    return app
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, conf: Path, module: str = "slowapp") -> tuple[subprocess.Popen, int]:
    (tmp_path / "slowapp.py").write_text(APP)
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "WORKERS": "2", "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(conf), f"{module}:create_app()"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    return proc, port


def _wait_listening(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("gunicorn did not listen")


def _stop_seconds(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return time.monotonic() - started


def test_a_clean_stop_skips_the_teardown(tmp_path: Path):
    proc, port = _start(tmp_path, CONF)
    _wait_listening(proc, port)
    seconds = _stop_seconds(proc)
    assert proc.returncode == 0
    # Three processes each holding an object that takes 1 s to free: with the
    # usual exit the master alone would take over a second after its workers.
    assert seconds < 1.0, f"stopped in {seconds:.2f} s: an interpreter teardown ran"
    assert b"Worker exiting" in proc.stderr.read(), "the workers' exit was not logged"


def test_without_the_hooks_the_same_stop_waits_for_the_teardown(tmp_path: Path):
    """The control: the test's app does slow the usual exit down."""
    plain = tmp_path / "plain.conf.py"
    plain.write_text(CONF.read_text() + "\ndel worker_exit, on_exit\n")
    proc, port = _start(tmp_path, plain)
    _wait_listening(proc, port)
    assert _stop_seconds(proc) >= 1.0


# The window between a worker's fork and its own signal handlers, held open
# for a second so that the master's stop lands in it every time.
SLOW_BOOT = """
_shop_post_fork = post_fork

def post_fork(server, worker):
    import time
    time.sleep(1.0)
    _shop_post_fork(server, worker)
"""


def _wait_forked(proc: subprocess.Popen, workers: int = 2) -> None:
    """Until the master has forked `workers` workers (each logs its boot first)."""
    booting = 0
    deadline = time.monotonic() + 30
    while booting < workers:
        assert time.monotonic() < deadline, "the workers were not forked"
        line = proc.stderr.readline()
        assert line, "gunicorn ended before its workers booted"
        booting += b"Booting worker" in line


@pytest.mark.parametrize("honoured", [True, False], ids=["shop-conf", "without-the-hooks"])
def test_a_stop_that_reaches_a_booting_worker_is_honoured(tmp_path: Path, honoured: bool):
    """The master's SIGTERM reaches both workers before their own handlers are
    in. With the shop's hooks they stop once booted (about 1 s); without them
    the master waits graceful_timeout (5 s) and kills them."""
    conf = tmp_path / "slowboot.conf.py"
    conf.write_text(CONF.read_text() + SLOW_BOOT + ("" if honoured else "\ndel post_worker_init\n"))
    proc, _ = _start(tmp_path, conf)
    _wait_forked(proc)
    seconds = _stop_seconds(proc)
    if honoured:
        assert proc.returncode == 0
        assert seconds < 4.0, f"stopped in {seconds:.2f} s: a worker missed the stop and was killed"
        assert b"asked to before it booted" in proc.stderr.read()
    else:
        assert seconds >= 5.0, f"stopped in {seconds:.2f} s: the stop did not land in the window"


def test_a_failed_start_keeps_its_error_status(tmp_path: Path):
    proc, _ = _start(tmp_path, CONF, module="no_such_module")
    assert proc.wait(timeout=30) != 0
    assert b"no_such_module" in proc.stderr.read()


def test_a_worker_that_fails_to_boot_halts_the_master_with_an_error(tmp_path: Path):
    failing = tmp_path / "failing.conf.py"
    failing.write_text(CONF.read_text() + "\npreload_app = False\n\n"
                       "def post_worker_init(worker):\n    raise RuntimeError('cannot boot')\n")
    proc, _ = _start(tmp_path, failing)
    assert proc.wait(timeout=30) != 0
    assert b"Worker failed to boot" in proc.stderr.read()
