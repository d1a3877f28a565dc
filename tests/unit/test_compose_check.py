"""The system file's docker: section is checked against the compose file and
the Docker proxy list on load, with file, line and field in each message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaos.errors import ConfigError
from chaos.spec import load_system

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the sample system's files to break one at a time."""
    for name in ["system.yaml", "compose.yaml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "toxiproxy").mkdir()
    for name in ["proxies.json", "proxies.docker.json"]:
        shutil.copy(ROOT / "toxiproxy" / name, tmp_path / "toxiproxy" / name)
    return tmp_path


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def error_of(copy: Path) -> str:
    with pytest.raises(ConfigError) as e:
        load_system(copy / "system.yaml")
    return str(e.value)


def test_the_sample_system_passes_and_has_its_docker_proxies(copy):
    system = load_system(copy / "system.yaml")
    assert system.spec.docker.project == "flask-chaos-shop"
    assert system.docker_proxies["gateway_orders"].upstream == "orders:5102"


def test_a_port_published_on_every_interface_is_refused(copy):
    compose = copy / "compose.yaml"
    edit(compose, '"127.0.0.1:5102:5102"', '"5102:5102"')
    line = line_of(compose, '"5102:5102"')
    assert error_of(copy) == (
        f"{compose}:{line}: services.orders-net.ports[0]: publishes on every interface: "
        'publish on 127.0.0.1 only (e.g. "127.0.0.1:5102:5102")'
    )


def test_a_port_on_a_public_address_is_refused(copy):
    edit(copy / "compose.yaml", '"127.0.0.1:8474:8474"', '"0.0.0.0:8474:8474"')
    assert "services.toxiproxy.ports[0]: publishes on 0.0.0.0" in error_of(copy)


def test_a_unit_must_publish_the_port_its_url_uses(copy):
    edit(copy / "compose.yaml", '"127.0.0.1:5100:5100"', '"127.0.0.1:5900:5100"')
    # gateway runs in gateway-net's network namespace, which publishes its port
    assert "services.gateway-net: must publish 127.0.0.1:5100" in error_of(copy)


def test_a_service_without_our_labels_is_refused(copy):
    compose = copy / "compose.yaml"
    edit(compose, "io.flask-chaos.service: users\n", "io.flask-chaos.service: user\n")
    message = error_of(copy)
    assert f"{compose}:" in message
    assert "services.users.labels: needs the label io.flask-chaos.service: users (got 'user')" in message


def test_the_holder_of_a_units_network_needs_our_labels_too(copy):
    edit(copy / "compose.yaml", "io.flask-chaos.service: orders-net\n", "io.flask-chaos.service: other\n")
    assert "services.orders-net.labels: needs the label io.flask-chaos.service: orders-net (got 'other')" in error_of(copy)


def test_a_missing_service_names_the_system_file_line(copy):
    edit(copy / "compose.yaml", "  inventory:\n", "  stock:\n")
    system_file = copy / "system.yaml"
    line = line_of(system_file, "compose: compose.yaml")
    assert error_of(copy).startswith(f"{system_file}:{line}: docker.compose: compose.yaml has no service 'inventory'")


def test_a_docker_proxy_to_the_wrong_upstream_is_refused(copy):
    edit(copy / "toxiproxy" / "proxies.docker.json", '"orders:5102"', '"orders:5103"')
    assert "docker.proxies: proxy 'gateway_orders' forwards to orders:5103, but edges[1] goes to orders" in error_of(copy)


def test_a_docker_proxy_list_missing_a_proxy_is_refused(copy):
    path = copy / "toxiproxy" / "proxies.docker.json"
    lines = [line for line in path.read_text().splitlines() if "orders_inventory" not in line]
    path.write_text("\n".join(lines).replace('"enabled": true},\n]', '"enabled": true}\n]'))
    assert "must name the same proxies as the local one: missing orders_inventory" in error_of(copy)


def test_an_unknown_field_in_the_docker_section_is_named(copy):
    edit(copy / "system.yaml", "  network: shop\n", "  netwrok: shop\n")
    assert "docker.netwrok: unknown field (did you mean 'network'?)" in error_of(copy)
