"""A run's own ports: every fixed port of the system, and every mention of one,
moved by one offset; nothing else touched."""

from __future__ import annotations

import random
import socket

import pytest

from chaos.cli import main
from chaos.errors import ConfigError
from chaos.spec.ports import free_offset, known_ports, shift_text, shifted

PORTS = {5100, 6101, 8474}


@pytest.mark.parametrize(("text", "moved"), [
    ("8474", "8574"),
    ("http://127.0.0.1:6101", "http://127.0.0.1:6201"),
    ("http://127.0.0.1:5100/api/x", "http://127.0.0.1:5200/api/x"),
    ("127.0.0.1:61010", "127.0.0.1:61010"),  # another port that merely starts the same
    ("0.5", "0.5"),
    ("8", "8"),
    ("{state}/data/x.sqlite3", "{state}/data/x.sqlite3"),
    ("http://127.0.0.1:9999", "http://127.0.0.1:9999"),  # not one of the system's
])
def test_a_port_moves_where_it_stands_alone_or_after_a_colon(text, moved):
    assert shift_text(text, PORTS, 100) == moved


def test_the_sample_shop_moves_as_a_whole(system):
    moved = shifted(system, 300)
    ports = {n: s.port for n, s in moved.services.items()}
    assert ports.items() >= {"inventory": 5403, "users": 5401, "orders": 5402, "gateway": 5400, "redis": 5410}.items()
    assert ports == {n: s.port + 300 for n, s in system.services.items()}
    # A port written alone in a command moves too: Redis is told its port on its command line.
    assert moved.services["redis"].command[:5] == ["redis-server", "--bind", "127.0.0.1", "--port", "5410"]
    assert moved.spec.toxiproxy.url == "http://127.0.0.1:8774"
    assert moved.spec.toxiproxy.command == ["toxiproxy-server", "-host", "127.0.0.1", "-port", "8774"]  # no -config: old ports
    assert moved.services["gateway"].env["SHOP_ORDERS_URL"] == "http://127.0.0.1:6402"
    assert moved.services["orders"].env["SHOP_INVENTORY_URL"] == "http://127.0.0.1:6403"
    assert moved.services["orders"].env["SHOP_READ_TIMEOUT"] == "0.5"
    assert {p.name: (p.listen, p.upstream) for p in moved.proxies.values()}.items() >= {
        "gateway_users": ("127.0.0.1:6401", "127.0.0.1:5401"),
        "gateway_orders": ("127.0.0.1:6402", "127.0.0.1:5402"),
        "orders_inventory": ("127.0.0.1:6403", "127.0.0.1:5403"),
        "gateway_redis": ("127.0.0.1:6410", "127.0.0.1:5410"),
        "orders_redis": ("127.0.0.1:6411", "127.0.0.1:5410"),
    }.items()
    assert len(moved.proxies) == len(system.proxies)
    assert known_ports(moved) == {p + 300 for p in known_ports(system)}
    assert moved.port_offset == 300 and shifted(system, 0) is system


def test_an_offset_that_would_leave_the_port_range_is_refused(system):
    with pytest.raises(ConfigError, match="must be between 1 and 20000, not 45000"):
        shifted(system, 45_000)
    with pytest.raises(ConfigError, match="must be between"):
        shifted(system, -5)


def test_auto_skips_offsets_whose_ports_are_taken(system):
    rng = random.Random(3)
    first = free_offset(system, random.Random(3))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 5100 + first))
        held.listen()
        assert free_offset(system, rng) != first


def test_the_cli_moves_ports_on_the_local_runtime_only(system, capsys):
    assert main(["--port-offset", "200", "run", "order-down", "--dry-run"]) == 0
    assert main(["--port-offset", "200", "--runtime", "docker", "run", "order-down", "--dry-run"]) == 2
    assert main(["--port-offset", "lots", "run", "order-down", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--port-offset: works on the local runtime only" in err and "expected a number or auto, not 'lots'" in err
