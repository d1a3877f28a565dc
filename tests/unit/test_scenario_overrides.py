"""A scenario's `system:` block: its services' env for that scenario (how a
scenario found by chaos explore replays in its time-compressed profile);
refused with file, line and field when wrong, and never silently dropped."""

import textwrap

import pytest

from chaos.engine.runner import Runner
from chaos.errors import ConfigError, SetupError
from chaos.runtime import Status
from chaos.spec.scenario import load_scenario
from chaos.ui.console import Console

BASE = textwrap.dedent("""\
    name: t
    description: a test scenario
    duration: 20s
    faults:
      - {kind: kill, service: orders, at: 5s, duration: 5s}
    checks:
      - {kind: breaker_recovers, breaker: gateway->orders}
    system:
      services:
    """)


def scenario(tmp_path, services: str):
    path = tmp_path / "t.yaml"
    path.write_text(BASE + textwrap.indent(services, "    "))
    return path


def test_the_services_run_with_the_scenarios_env_and_the_plan_says_so(system, tmp_path):
    s = load_scenario(scenario(tmp_path, 'gateway: {env: {SHOP_BREAKER_RESET_TIMEOUT: "2"}}\n'), system)
    moved = s.system_for(system)
    assert moved.services["gateway"].env["SHOP_BREAKER_RESET_TIMEOUT"] == "2"
    assert moved.services["gateway"].env["SHOP_READ_TIMEOUT"] == "1.0"  # the rest of its env is kept
    assert moved.services["orders"].env == system.services["orders"].env
    assert s.unapplied(moved) == [] and s.unapplied(system) == ["gateway SHOP_BREAKER_RESET_TIMEOUT=2"]
    assert "services run with: gateway SHOP_BREAKER_RESET_TIMEOUT=2" in s.plan(system)


@pytest.mark.parametrize("services, where, message", [
    ('gatway: {env: {X: "1"}}\n', "t.yaml:10: system.services.gatway", "unknown service 'gatway'"),
    ('gateway: {env: {CHAOS_BREAKERS: "off"}}\n', "t.yaml:10: system.services.gateway.env.CHAOS_BREAKERS", "set by the toolkit"),
    ('gateway: {env: {PORT: "1"}}\n', "t.yaml:10: system.services.gateway.env.PORT", "set by the toolkit"),
    ('gateway: {enve: {X: "1"}}\n', "t.yaml:10: system.services.gateway.enve", "did you mean 'env'"),
    ('gateway: {env: {X: 2}}\n', "t.yaml:10: system.services.gateway.env.X", "string"),
])
def test_a_wrong_block_is_refused_with_file_line_and_field(system, tmp_path, services, where, message):
    with pytest.raises(ConfigError) as e:
        load_scenario(scenario(tmp_path, services), system)
    assert where in str(e.value) and message in str(e.value)


def test_the_docker_runtime_refuses_it_before_anything_starts(system, tmp_path):
    s = load_scenario(scenario(tmp_path, 'gateway: {env: {X: "1"}}\n'), system)
    s.check_runtime("local")
    with pytest.raises(ConfigError, match="system.services.gateway.env.X: .*compose file, which does not set X for gateway, not 1"):
        s.check_runtime("docker")
    with pytest.raises(ConfigError, match="local runtime only"):
        s.check_runtime("kubernetes")  # a runtime with no compose file to compare with


def test_on_docker_a_setting_the_compose_file_already_gives_is_honoured_and_another_refused(system, tmp_path):
    """per-worker-breakers' storage=redis is what compose.yaml gives the
    gateway, so it runs on Docker; storage=memory would be silently ignored
    there, so it is refused, naming what compose sets."""
    load_scenario(scenario(tmp_path, 'gateway: {env: {SHOP_BREAKER_STORAGE: redis}}\n'), system).check_runtime("docker")
    s = load_scenario(scenario(tmp_path, 'gateway: {env: {SHOP_BREAKER_STORAGE: memory}}\n'), system)
    with pytest.raises(ConfigError, match="which sets SHOP_BREAKER_STORAGE=redis for gateway, not memory"):
        s.check_runtime("docker")


class FakeRuntime:
    agent_token = "t"

    def status(self, name):
        return Status.RUNNING

    def logs(self, name):
        return None


def test_a_runner_given_the_system_without_them_refuses_to_run(system, tmp_path):
    # The nightly and the pytest plugin start their runtime from the system file:
    # such a run would judge services running other settings than the scenario says.
    s = load_scenario(scenario(tmp_path, 'gateway: {env: {X: "1"}}\n'), system)
    with pytest.raises(SetupError, match="gateway X=1"):
        Runner(system, s, FakeRuntime(), Console())
    Runner(s.system_for(system), s, FakeRuntime(), Console())  # as chaos run gives it
