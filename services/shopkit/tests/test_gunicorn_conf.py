"""gunicorn.conf.py really starts a service: 127.0.0.1, four workers forked
from a preloaded app, no control socket; and what a service commits
survives its worker being SIGKILLed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

SERVICES = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHOP_", "CHAOS_")) and k not in ("XDG_RUNTIME_DIR", "PORT", "HOST")
    }
    # HOME decides where gunicorn would put its control socket (~/.gunicorn).
    # The chaos agent on, as the toolkit starts every service: it reports its worker's pid.
    env.update(HOME=str(tmp_path), SHOP_DATABASE=str(tmp_path / "users.sqlite3"), CHAOS_AGENT="on", **extra)
    return env


def child_pids(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # The command name may contain spaces; fields after ")" are fixed.
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                children.append(int(entry))
    return children


def wait_for_worker(port: int, process: subprocess.Popen, log, not_pid: int | None = None) -> dict:
    """The agent's /_chaos/breakers of the first worker to answer whose pid is not `not_pid`."""
    deadline = time.monotonic() + 15
    while True:
        try:
            body = requests.get(f"http://127.0.0.1:{port}/_chaos/breakers", timeout=1).json()
            if body["pid"] != not_pid:
                return body
        except (requests.ConnectionError, requests.Timeout):  # booting, or a loaded machine: ask again
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_gunicorn_serves_a_service_on_localhost_with_four_workers(tmp_path) -> None:
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "users:create_app()"],
            cwd=SERVICES,
            env=gunicorn_env(tmp_path, PORT=str(port)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        first = wait_for_worker(port, process, log)
        health = requests.get(f"{base}/health", timeout=2)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "service": "users"})
        assert first["service"] == "users"
        deadline = time.monotonic() + 15
        while len(first["worker_pids"] or []) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
            first = wait_for_worker(port, process, log)
        assert sorted(child_pids(process.pid)) == sorted(first["worker_pids"]) and len(first["worker_pids"]) == 4
        assert first["pid"] in first["worker_pids"]
        # Each worker's heartbeat file is in memory, not on a disk a busy neighbour holds up.
        for pid in first["worker_pids"]:
            targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            heartbeats = [t for t in targets if "wgunicorn-" in t]
            assert heartbeats and all(t.startswith("/dev/shm/") for t in heartbeats), targets
        assert f"Listening at: {base}" in log.read_text()
        assert "gthread" in log.read_text()
        assert not (tmp_path / ".gunicorn").exists()

        created = requests.post(f"{base}/users", json={"name": "Kim", "email": "kim@example.test"}, timeout=2)
        assert created.status_code == 201
        os.kill(first["pid"], signal.SIGKILL)  # gunicorn's master starts a new worker
        second = wait_for_worker(port, process, log, not_pid=first["pid"])
        assert second["boot_id"] != first["boot_id"]
        assert requests.get(f"{base}/users/{created.json()['id']}", timeout=2).json() == created.json()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    assert returncode == 0, log.read_text()


def test_gunicorn_refuses_to_start_without_port(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "users:create_app()"],
        cwd=SERVICES,
        env=gunicorn_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "set PORT" in result.stderr
