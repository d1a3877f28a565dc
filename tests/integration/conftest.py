"""Real parts for integration tests: a real Toxiproxy server, real sockets."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from ..judged import until_judged
from ..servers import serving

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def run_chaos(*args: str, runtime: str | None = None, breakers: str = "on", timeout: float = 180,
              rerun_unjudged: bool = True) -> subprocess.CompletedProcess:
    """`python -m chaos ARGS` as a user runs it: from the repository root, with
    Toxiproxy's project-local folder on PATH, no stdin, output captured.

    A `chaos run ... --reports DIR` the machine did not let judge (see
    `until_judged`) is run again, unless `rerun_unjudged` is False (a test
    that expects the load not to be delivered)."""
    env = {**os.environ, "BREAKERS": breakers, "PYTHONUNBUFFERED": "1",
           "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    runtime_args = ["--runtime", runtime] if runtime else []

    def attempt() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "chaos", *runtime_args, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    from chaos.argv import asks_for, option_of

    reports = option_of(list(args), "--reports")
    if rerun_unjudged and reports and asks_for(list(args), "run"):
        return until_judged(attempt, Path(reports))
    return attempt()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate_on_free_ports(client, proxies: list[dict]) -> list[dict]:  # type: ignore[no-untyped-def]
    """`proxies` created on `client`'s Toxiproxy, each listening on a free
    port. A port found free can be taken before Toxiproxy binds it (the
    unit tests beside these open connections from the same ephemeral
    range: CI saw "bind: address already in use" once in 18 x 13 picks), so
    a refusal for that reason is tried again with fresh ports; populate
    replaces the proxies a failed attempt left."""
    from chaos.clients.toxiproxy import ToxiproxyError

    for attempt in range(5):
        placed = [{**p, "listen": f"127.0.0.1:{free_port()}"} for p in proxies]
        try:
            client.populate(placed)
            return placed
        except ToxiproxyError as e:
            if "address already in use" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def toxiproxy_binary() -> str:
    found = shutil.which("toxiproxy-server") or str(ROOT / ".tools" / "bin" / "toxiproxy-server")
    if not os.access(found, os.X_OK):
        pytest.fail("toxiproxy-server is missing: run `make setup` (it builds Toxiproxy v2.12.0)")
    return found


def start_toxiproxy(output: int = subprocess.DEVNULL, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """A real Toxiproxy server of our own on a free port, its output to
    `output`, answering: the process and its URL. The caller stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [toxiproxy_binary(), "-host", "127.0.0.1", "-port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        env=None if env is None else {**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(url + "/version", timeout=0.5)
            return proc, url
        except requests.RequestException:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("Toxiproxy did not start")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def toxiproxy_url() -> Iterator[str]:
    """A real Toxiproxy server of our own on a free port, stopped by its pid afterwards."""
    proc, url = start_toxiproxy()
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hello_server() -> Iterator[str]:
    """A tiny real HTTP server on loopback: the upstream of test proxies."""
    with serving(_Hello) as address:
        yield address


def docker_unavailable(system) -> str | None:
    """Why the Docker runtime cannot run here, or None when it can."""
    import docker
    import yaml

    from chaos.errors import SetupError
    from chaos.runtime.compose import compose_command

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        return f"no Docker engine answers ({type(e).__name__})"
    try:
        compose_command()
    except SetupError as e:
        return str(e)
    compose = yaml.safe_load((system.root / system.spec.docker.compose).read_text())
    for image in [spec["image"] for spec in compose["services"].values()]:
        # As compose reads it: ${CHAOS_IMAGE_TAG:-latest} (docker/images.sh).
        image = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1]) or m[2], image)
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            return f"image {image} is missing: run `make images`"
    return None


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine with our images: skips without one, but fails in CI,
    where `make test` installs and starts one, so a skip would hide a gap."""
    from chaos.spec import load_system

    reason = docker_unavailable(load_system(ROOT / "system.yaml"))
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the Docker runtime tests cannot run in CI: {reason}")
        pytest.skip(f"Docker runtime: {reason}")
