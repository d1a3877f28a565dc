"""`chaos init`: flags or a compose file in, three files out that load as
they are (system file, proxy list, first scenario); existing files are not
overwritten without --force; a bad flag is refused naming it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import ConfigError
from chaos.spec import load_system
from chaos.spec.scenario import load_scenario
from chaos.spec.starter import Starter, from_compose, from_flags, render

FLAGS = ["--service", "front=18001", "--service", "stock=18002", "--edge", "front->stock"]


def init(tmp_path: Path, *args: str) -> int:
    return main(["init", "--dir", str(tmp_path), *args])


def test_flags_make_files_that_load(tmp_path, capsys):
    assert init(tmp_path, *FLAGS, "--route", "page=/page", "--toxiproxy-port", "18474") == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'system.yaml'}" in out and "validate" in out
    system = load_system(tmp_path / "system.yaml")
    assert system.spec.entrypoint == "front" and system.services["front"].port == 18001
    assert system.services["front"].agent == "/_chaos" and system.services["stock"].agent is None
    edge = system.edges["front->stock"]
    assert edge.read_timeout == 1.0 and edge.proxy == "front_stock"
    assert system.proxies["front_stock"].listen == "127.0.0.1:19474"  # toxiproxy port + 1000
    assert system.proxies["front_stock"].upstream == "127.0.0.1:18002"
    assert system.spec.toxiproxy.url == "http://127.0.0.1:18474"
    assert system.routes["page"].path == "/page" and system.routes["page"].calls == ["stock"]
    assert system.routes["health"].calls == []  # what containment can judge
    scenario = load_scenario(tmp_path / "scenarios" / "stock-down.yaml", system)
    assert [c.kind for c in scenario.checks] == ["breaker_opens", "fails_fast", "containment", "breaker_recovers"]
    assert scenario.spec.faults[0].kind == "kill" and scenario.spec.faults[0].service == "stock"
    text = (tmp_path / "system.yaml").read_text()
    assert "{root}/.venv/bin/python" in text and '"{python}"' in text and "agent.watch(breaker)" in text
    assert "read_timeout" in text and "match the caller's read timeout" in text
    assert main(["--system", str(tmp_path / "system.yaml"), "validate"]) == 0


def test_without_routes_a_placeholder_route_and_a_proxy_base(tmp_path):
    assert init(tmp_path, *FLAGS, "--proxy-base", "18011", "--name", "shop") == 0
    system = load_system(tmp_path / "system.yaml")
    assert system.name == "shop" and list(system.routes) == ["home", "health"] and system.routes["home"].path == "/"
    assert json.loads((tmp_path / "proxies.json").read_text())[0]["listen"] == "127.0.0.1:18011"


def test_proxy_ports_skip_the_ports_services_use():
    start = from_flags(services=["a=9474", "b=9475", "c=9000"], edges=["a->b", "b->c"])
    assert start.proxy_ports() == [9476, 9477]


COMPOSE = textwrap.dedent(
    """\
    name: Shop
    services:
      toxiproxy:
        image: ghcr.io/shopify/toxiproxy:2.12.0
      gateway:
        build: .
        ports: ["127.0.0.1:8080:5100"]
        depends_on: [users, orders]
      users:
        ports: ["5101"]
      orders:
        ports:
          - target: 5102
            published: 15102
        depends_on:
          inventory: {condition: service_healthy}
          db: {condition: service_started}
      inventory:
        ports: ["5103:5103/tcp"]
      db:
        image: postgres
    """
)


def test_a_compose_file_gives_services_edges_and_the_entrypoint(tmp_path):
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    start = from_compose(compose)
    assert start.name == "shop"
    assert start.services == {"gateway": 5100, "users": 5101, "orders": 5102, "inventory": 5103}  # container ports; db publishes none
    assert start.edges == (("gateway", "users"), ("gateway", "orders"), ("orders", "inventory"))
    assert start.entrypoint == "gateway"
    out = tmp_path / "chaos"
    assert init(out, "--compose", str(compose)) == 0
    system = load_system(out / "system.yaml")
    assert set(system.edges) == {"gateway->users", "gateway->orders", "orders->inventory"}
    assert system.spec.entrypoint == "gateway"
    # Every service that holds breakers gets the agent, not only the entrypoint.
    assert [s for s, spec in system.services.items() if spec.agent] == ["gateway", "orders"]
    assert system.routes["home"].calls == ["users", "orders", "inventory"]
    assert load_scenario(out / "scenarios" / "users-down.yaml", system).name == "users-down"


def test_flags_add_to_a_compose_file(tmp_path):
    compose = tmp_path / "compose.yaml"
    compose.write_text(COMPOSE)
    start = from_flags(from_compose(compose), services=["audit=5200"], edges=["orders->audit"], entry="users")
    assert start.services["audit"] == 5200 and start.edges[-1] == ("orders", "audit") and start.entrypoint == "users"


def test_existing_files_are_not_overwritten_without_force(tmp_path, capsys):
    assert init(tmp_path, *FLAGS) == 0
    (tmp_path / "system.yaml").write_text("# mine\n")
    capsys.readouterr()
    assert init(tmp_path, *FLAGS) == 2
    err = capsys.readouterr().err
    assert "will not overwrite" in err and str(tmp_path / "system.yaml") in err and "stock-down.yaml" in err and "--force" in err
    assert (tmp_path / "system.yaml").read_text() == "# mine\n"
    assert init(tmp_path, *FLAGS, "--force") == 0
    load_system(tmp_path / "system.yaml")


@pytest.mark.parametrize(("args", "flag", "says"), [
    (["--service", "front"], "--service", "expected NAME=PORT"),
    (["--service", "front=http"], "--service", "'http' is not a port number"),
    (["--service", "front=70000"], "--service", "not a port number"),
    (["--service", "Front!=1"], "--service", "not a usable name"),
    (["--service", "a=1", "--service", "b=2", "--edge", "a-b"], "--edge", "expected CALLER->CALLEE"),
    (["--service", "a=1", "--service", "b=2", "--edge", "a->c"], "--edge", "names 'c', which is no service"),
    (["--service", "a=1", "--service", "b=2", "--edge", "a->a"], "--edge", "calling itself"),
    (["--service", "a=1", "--service", "b=2"], "--edge", "no edges"),
    ([], "--service", "no services"),
    ([*FLAGS, "--entry", "web"], "--entry", "'web' is no service"),
    ([*FLAGS, "--route", "page"], "--route", "expected NAME=/PATH"),
    ([*FLAGS, "--route", "page=page"], "--route", "expected NAME=/PATH"),
    ([*FLAGS, "--toxiproxy-port", "18001"], "--toxiproxy-port", "is a service's port"),
    ([*FLAGS, "--proxy-base", "65535", "--service", "x=3", "--edge", "front->x"], "--proxy-base", "no room"),
])
def test_bad_flags_are_refused_naming_the_flag(tmp_path, capsys, args, flag, says):
    assert init(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert f"chaos: error: {flag}: " in err and says in err, err
    assert not (tmp_path / "system.yaml").exists()


def test_a_compose_file_that_cannot_be_used_is_refused(tmp_path, capsys):
    assert init(tmp_path, "--compose", str(tmp_path / "nope.yaml")) == 2
    assert "nope.yaml: --compose: no such file" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text("services:\n  db: {image: postgres}\n")
    assert init(tmp_path, "--compose", str(tmp_path / "c.yaml")) == 2
    assert "no service publishes a port" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text("services: [\n")
    assert init(tmp_path, "--compose", str(tmp_path / "c.yaml")) == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_render_is_only_text_and_names_the_first_edges_callee():
    files = render(Starter(name="s", services={"web": 1, "api": 2, "db": 3}, edges=(("api", "db"), ("web", "api"))))
    assert set(files) == {"system.yaml", "proxies.json", "scenarios/db-down.yaml"}
    assert "breaker: api->db" in files["scenarios/db-down.yaml"]
    with pytest.raises(ConfigError):
        from_flags(services=["a=1"], edges=["a->b"])
