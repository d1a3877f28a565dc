"""Our Toxiproxy adapter against the real server, and toxiproxy-python seeing
the same proxies and toxics (for users who script with it)."""

import os
import socket
import subprocess
import time

import pytest
import requests
import toxiproxy
from toxiproxy.api import APIConsumer

from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError

from .conftest import free_port, populate_on_free_ports, start_toxiproxy


@pytest.fixture
def proxy(toxiproxy_url, hello_server):
    client = Toxiproxy(toxiproxy_url)
    name = f"test_{free_port()}"
    (placed,) = populate_on_free_ports(client, [{"name": name, "upstream": hello_server, "enabled": True}])
    yield client, name, f"http://{placed['listen']}/"
    requests.delete(f"{toxiproxy_url}/proxies/{name}", timeout=2)


def timed_get(url: str) -> float:
    start = time.monotonic()
    assert requests.get(url, timeout=5).text == "hello"
    return time.monotonic() - start


def test_latency_toxic_slows_answers_and_removal_restores_them(proxy):
    client, name, url = proxy
    assert timed_get(url) < 0.2
    client.add_toxic(name, "slow", "latency", {"latency": 400, "jitter": 0})
    assert [t["name"] for t in client.toxics(name)] == ["slow"]
    assert timed_get(url) >= 0.4
    client.remove_toxic(name, "slow")
    client.remove_toxic(name, "slow")  # removing twice is fine
    assert timed_get(url) < 0.2


def test_a_disabled_proxy_refuses_connections_until_enabled(proxy):
    client, name, url = proxy
    client.set_enabled(name, False)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    assert client.clean(name) == 0
    assert timed_get(url) < 0.5


def test_clean_removes_every_toxic(proxy):
    client, name, _ = proxy
    client.add_toxic(name, "a", "latency", {"latency": 10})
    client.add_toxic(name, "b", "bandwidth", {"rate": 100}, stream="upstream")
    assert client.clean(name) == 2
    assert client.toxics(name) == []


def test_toxic_attributes_must_be_integers(proxy):
    client, name, _ = proxy
    with pytest.raises(ValueError, match="must be an integer"):
        client.add_toxic(name, "x", "latency", {"latency": 1.5})
    assert client.toxics(name) == []


def test_refusals_become_errors_with_the_reason(proxy):
    client, name, _ = proxy
    with pytest.raises(ToxiproxyError, match="no_such_toxic_type|toxic type"):
        client.add_toxic(name, "x", "no_such_toxic_type", {})


def test_an_unreachable_or_hung_server_fails_within_the_timeout():
    with pytest.raises(ToxiproxyError):
        Toxiproxy(f"http://127.0.0.1:{free_port()}").version()
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen()  # accepts connections, never answers
    try:
        start = time.monotonic()
        with pytest.raises(ToxiproxyError):
            Toxiproxy(f"http://127.0.0.1:{hung.getsockname()[1]}", timeout=(0.5, 0.5)).proxies()
        assert time.monotonic() - start < 2
    finally:
        hung.close()


def test_toxiproxy_python_sees_the_same_proxies_and_toxics(proxy, toxiproxy_url):
    client, name, url = proxy
    host, port = toxiproxy_url.removeprefix("http://").split(":")
    old = APIConsumer.host, APIConsumer.port
    try:
        theirs = toxiproxy.Toxiproxy()
        theirs.update_api_consumer(host, int(port))
        their_proxy = theirs.get_proxy(name)
        assert their_proxy is not None and their_proxy.listen == url.removeprefix("http://").rstrip("/")
        client.add_toxic(name, "ours", "latency", {"latency": 50})
        assert set(their_proxy.toxics()) == {"ours"}
        their_proxy.add_toxic(name="theirs", type="latency", attributes={"latency": 20})
        assert {t["name"] for t in client.toxics(name)} == {"ours", "theirs"}
        assert timed_get(url) >= 0.07
    finally:
        APIConsumer.host, APIConsumer.port = old


def _stalled_log_toxiproxy(env: dict[str, str]) -> tuple[subprocess.Popen, str, int]:
    """A Toxiproxy whose stdout is a pipe nobody reads: a log write that
    cannot go through, as a write to a file can wait on a busy disk's
    journal. Returns it, its URL and the read end of the pipe (kept open)."""
    read_end, write_end = os.pipe()
    try:
        proc, url = start_toxiproxy(write_end, env)
    finally:
        os.close(write_end)
    return proc, url, read_end


@pytest.mark.parametrize("quiet", [True, False], ids=["the-runtime's-level", "toxiproxy's-default"])
def test_a_log_write_that_waits_stops_toxiproxy_accepting_unless_it_logs_errors_only(quiet, hello_server):
    """Why the local runtime starts Toxiproxy at LOG_LEVEL=error
    (chaos/runtime/local.py, TOXIPROXY_ENV): at its own default it writes a
    log line before it connects a client to the upstream, so while a write
    waits, no new connection through any proxy is served."""
    from chaos.runtime.local import TOXIPROXY_ENV

    env = TOXIPROXY_ENV if quiet else {"LOG_LEVEL": "trace"}  # trace: its own default
    proc, url, read_end = _stalled_log_toxiproxy(env)
    try:
        (placed,) = populate_on_free_ports(Toxiproxy(url), [{"name": "p", "upstream": hello_server, "enabled": True}])
        served = 0
        for _ in range(600):  # 600 new connections: far more log than a pipe holds (64 KiB)
            try:
                with requests.Session() as fresh:
                    assert fresh.get(f"http://{placed['listen']}/", timeout=2).text == "hello"
                served += 1
            except requests.Timeout:
                break
        if quiet:
            assert served == 600
        else:
            assert 0 < served < 600, served  # it served until the pipe filled, then stopped
    finally:
        proc.kill()
        proc.wait()
        os.close(read_end)
