"""`health: tcp`: a unit with no HTTP health (Redis) is ready once its port
accepts a connection, in the local and the Docker runtime alike."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
import requests

from chaos.errors import ConfigError
from chaos.runtime.docker import DockerRuntime
from chaos.runtime.local import LocalRuntime
from chaos.runtime.readiness import accepts, service_ready
from chaos.spec import load_system
from chaos.spec.system import ServiceSpec


class NoHttp(requests.Session):
    """A session that fails the test if anything asks it for a URL."""

    def get(self, url, **kwargs):  # type: ignore[no-untyped-def, override]
        raise AssertionError(f"health: tcp must not send HTTP, but asked for {url}")


@pytest.fixture
def listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free again once closed: nothing listens there


def write(tmp_path: Path, port: int, health: str = "tcp") -> Path:
    (tmp_path / "proxies.json").write_text("[]")
    (tmp_path / "system.yaml").write_text(textwrap.dedent(f"""\
        name: kv
        toxiproxy: {{command: [toxiproxy-server], proxies: proxies.json}}
        services:
          store:
            command: [redis-server, --port, "{port}"]
            port: {port}
            health: {health}
        entrypoint: store
        routes: {{get: {{path: /}}}}
        """))
    return tmp_path / "system.yaml"


def test_tcp_has_no_health_url_and_a_path_has_one():
    assert ServiceSpec(command=["x"], port=5110, health="tcp").health_url is None
    assert ServiceSpec(command=["x"], port=5100).health_url == "http://127.0.0.1:5100/health"


def test_a_health_that_is_neither_a_path_nor_tcp_names_file_line_and_field(tmp_path):
    path = write(tmp_path, 5110, health="tpc")
    with pytest.raises(ConfigError) as e:
        load_system(path)
    assert "system.yaml:7" in str(e.value) and "services.store.health" in str(e.value)


def test_accepts_tells_a_listening_port_from_a_closed_one(listener):
    assert accepts("127.0.0.1", listener)
    assert not accepts("127.0.0.1", closed_port())


def test_tcp_readiness_is_a_connection_and_no_http(listener):
    assert service_ready(ServiceSpec(command=["x"], port=listener, health="tcp"), NoHttp())
    assert not service_ready(ServiceSpec(command=["x"], port=closed_port(), health="tcp"), NoHttp())


def test_the_local_runtime_waits_for_a_tcp_unit_by_its_port(tmp_path, listener):
    runtime = LocalRuntime(load_system(write(tmp_path, listener)), tmp_path / "state")
    runtime._http = NoHttp()  # noqa: SLF001 - readiness must not use it
    assert runtime._units["store"].ready()  # noqa: SLF001
    closed = LocalRuntime(load_system(write(tmp_path, closed_port())), tmp_path / "state2")
    assert not closed._units["store"].ready()  # noqa: SLF001


def test_the_docker_runtime_asks_the_published_port_of_a_tcp_unit(tmp_path, listener):
    runtime = object.__new__(DockerRuntime)  # no engine needed: _answers only reads the system
    runtime.system = load_system(write(tmp_path, listener))
    runtime._http = NoHttp()  # noqa: SLF001
    assert runtime._answers("store")  # noqa: SLF001
    runtime.system = load_system(write(tmp_path, closed_port()))
    assert not runtime._answers("store")  # noqa: SLF001


def test_toxiproxy_starts_quiet_unless_the_system_file_says_otherwise(tmp_path):
    """At trace level (its default) Toxiproxy writes a line to its log file for
    every connection it accepts, from the goroutine that accepts (see
    chaos/runtime/local.py, TOXIPROXY_ENV)."""
    runtime = LocalRuntime(load_system(write(tmp_path, 6379)), tmp_path / "state")
    assert runtime._units["toxiproxy"].env == {"LOG_LEVEL": "error"}  # noqa: SLF001
    path = write(tmp_path, 6379)
    path.write_text(path.read_text().replace(
        "proxies: proxies.json}", "proxies: proxies.json, env: {LOG_LEVEL: debug, HOME: /x}}"))
    runtime = LocalRuntime(load_system(path), tmp_path / "state")
    assert runtime._units["toxiproxy"].env == {"LOG_LEVEL": "debug", "HOME": "/x"}  # noqa: SLF001
