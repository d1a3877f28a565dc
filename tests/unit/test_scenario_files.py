"""Scenario and system files: typed when valid, refused with file, line and
field when not."""

import random
import textwrap
from pathlib import Path

import pytest

from chaos.errors import ConfigError
from chaos.engine.load import render
from chaos.spec.model import parse_duration
from chaos.spec.scenario import find_scenario, list_scenarios, load_scenario
from chaos.spec import load_system

GOOD = textwrap.dedent(
    """\
    name: {name}
    description: a test scenario
    duration: 30s
    load:
      rate: 20
    faults:
      - kind: kill
        service: orders
        at: 8s
        duration: 10s
    checks:
      - kind: breaker_opens
        breaker: gateway->orders
        within: 3s
    """
)


def write(tmp_path: Path, text: str, name: str = "t") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("{name}", name))
    return path


def error_of(path: Path, system) -> str:
    with pytest.raises(ConfigError) as e:
        load_scenario(path, system)
    return str(e.value)


def test_every_shipped_scenario_is_valid(system):
    names = list_scenarios(system)
    assert {"order-down", "order-slow"} <= set(names)
    for name in names:
        scenario = load_scenario(system.scenarios_dir / f"{name}.yaml", system)
        assert scenario.name == name and scenario.checks and scenario.faults


def test_a_valid_file_becomes_typed_objects(tmp_path, system):
    s = load_scenario(write(tmp_path, GOOD), system)
    (fault,) = s.faults
    assert (fault.kind, fault.service, fault.at, fault.duration) == ("kill", "orders", 8.0, 10.0)
    assert s.checks[0].within == 3.0
    assert s.mix(system) == {r: 1 for r in system.routes}


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("service: orders", "servce: orders", "t.yaml:8: faults[0].servce: unknown field (did you mean 'service'?)"),
        ("kind: kill", "kind: kil", "t.yaml:7: faults[0].kind: unknown kind 'kil' (did you mean 'kill'?)"),
        ("within: 3s", "within: soon", "t.yaml:14: checks[0].within: expected a duration such as 3s or 250ms"),
        ("within: 3s", "within: -3s", "t.yaml:14: checks[0].within: expected a duration"),
        ("service: orders", "service: oders", "t.yaml:8: faults[0].service: unknown service 'oders'"),
        ("breaker: gateway->orders", "breaker: gateway->order", "t.yaml:13: checks[0].breaker: unknown breaker"),
        ("duration: 10s", "duration: 40s", "t.yaml:10: faults[0].duration: the fault would end at 48 s"),
        ("rate: 20", "rate: fast", "t.yaml:5: load.rate: Input should be a valid number"),
        ("rate: 20", "rate: 20\n  mix: {nope: 1}", "t.yaml:6: load.mix.nope: unknown route 'nope'"),
        ("name: {name}", "name: other", "t.yaml:1: name: must match the file name 't'"),
        ("  - kind: breaker_opens\n", "  - kind: breaker_opens\n    wthin: 2s\n", "checks[0].wthin: unknown field (did you mean 'within'?)"),
    ],
)
def test_a_bad_file_names_file_line_and_field(tmp_path, system, old, new, expected):
    assert old in GOOD
    message = error_of(write(tmp_path, GOOD.replace(old, new)), system)
    assert expected in message


def test_a_missing_field_is_named_at_its_parent(tmp_path, system):
    message = error_of(write(tmp_path, GOOD.replace("    service: orders\n", "")), system)
    assert "t.yaml:7: faults[0].service: required field is missing" in message


def test_broken_yaml_gives_its_line(tmp_path, system):
    message = error_of(write(tmp_path, GOOD.replace("rate: 20", "rate: [20")), system)
    assert "t.yaml:" in message and "invalid YAML" in message


def test_duplicate_keys_are_refused(tmp_path, system):
    message = error_of(write(tmp_path, GOOD.replace("duration: 30s", "duration: 30s\nduration: 40s")), system)
    assert "t.yaml:4: duration: duplicate key" in message


@pytest.mark.parametrize("text", ["", "just a string", "- a\n- list", "\x00\x01", "name: {{{"])
def test_hostile_files_get_a_config_error(tmp_path, system, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_scenario(path, system)


def test_an_unknown_scenario_name_lists_the_known_ones(system):
    with pytest.raises(ConfigError) as e:
        find_scenario("order-dwn", system)
    assert "no scenario 'order-dwn'" in str(e.value) and "Did you mean 'order-down'?" in str(e.value)


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("3s", 3.0), ("1.5s", 1.5), ("2m", 120.0), (4, 4.0), ("7", 7.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", True, None, "1h", float("inf"), float("nan"), 10**9])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_system_file_checks_proxies_against_services(tmp_path, root):
    text = (root / "system.yaml").read_text().replace("port: 5103", "port: 5999")
    (tmp_path / "toxiproxy").mkdir()
    (tmp_path / "toxiproxy" / "proxies.json").write_text((root / "toxiproxy" / "proxies.json").read_text())
    path = tmp_path / "system.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_system(path)
    assert "edges[2].proxy: proxy 'orders_inventory' forwards to 127.0.0.1:5103, but inventory listens on 127.0.0.1:5999" in str(e.value)


def test_routes_are_rendered_with_typed_variables(system):
    path, body = render(system, system.routes["place-order"], random.Random(1))
    assert path == "/api/orders"
    assert isinstance(body["user_id"], int) and 1 <= body["user_id"] <= 20
    assert body["sku"].startswith("SKU-") and len(body["client_ref"]) == 32
    path, _ = render(system, system.routes["profile"], random.Random(1))
    assert path.startswith("/api/users/") and path.endswith("/profile")


def test_route_dependencies_come_from_the_system_file(system):
    assert system.routes_independent_of(frozenset({"orders"})) == ["user", "missing-user", "register"]
    assert system.routes_depending_on(frozenset({"inventory"})) == ["place-order"]


def test_a_fault_the_runtime_cannot_inject_is_refused_before_anything_starts(system, tmp_path):
    from chaos.cli import main

    path = tmp_path / "cut-off.yaml"
    path.write_text("name: cut-off\ndescription: d\nduration: 20s\n"
                    "faults: [{kind: network_partition, service: orders, at: 5s, duration: 5s}]\n"
                    "checks: [{kind: containment}]\n")
    scenario = load_scenario(path, system)
    scenario.check_runtime("docker")  # fine
    with pytest.raises(ConfigError, match="network_partition works on the docker runtime only, not local"):
        scenario.check_runtime("local")
    assert main(["--system", str(system.path), "--runtime", "local", "run", str(path), "--dry-run"]) == 2
    # HTTP faults go through the agent with its token: every runtime can set them.
    load_scenario(system.scenarios_dir / "orders-http-500s.yaml", system).check_runtime("docker")
