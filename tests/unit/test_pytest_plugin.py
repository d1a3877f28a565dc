"""The pytest plugin, driven by pytest itself (pytester) with a fake engine:
`_run_scenario` and `_open_runtime` are replaced, so nothing starts and no
port is bound. What is proved: one item a check, named by its title; pass,
fail and unknown mapped to outcomes with the evidence as the message and in
--junitxml; bad files as collection errors naming file:line:field; nothing
at all without --chaos-system; the chaos_run fixture; the system stopped at
the end only when the plugin started it."""

from __future__ import annotations

import json
import signal
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos import pytest_plugin
from chaos.checks import Verdict
from chaos.engine.interrupts import interruptible
from chaos.engine.runner import RunResult
from chaos.errors import SetupError
from chaos.history import History
from chaos.runtime import Status

pytest_plugins = ["pytester"]

SYSTEM = textwrap.dedent(
    """\
    name: two
    toxiproxy:
      url: http://127.0.0.1:18474
      command: [toxiproxy-server, -port, "18474"]
      proxies: proxies.json
    services:
      front: {command: ["{python}", front.py], port: 18001, agent: /_chaos}
      back: {command: ["{python}", back.py], port: 18002, agent: /_chaos}
    edges:
      - {from: front, to: back, proxy: front_back, read_timeout: 0.5}
    entrypoint: front
    routes:
      page: {path: /page, calls: [back]}
    """
)

SCENARIO = textwrap.dedent(
    """\
    name: back-down
    description: back is killed; front's breaker must open.
    duration: 20s
    parameters:
      down_for: {type: duration, default: 5s}
    faults:
      - kind: kill
        service: back
        at: 5s
        duration: ${down_for}
    checks:
      - kind: breaker_opens
        breaker: front->back
        within: 3s
      - kind: fails_fast
        breaker: front->back
      - kind: breaker_recovers
        breaker: front->back
    """
)
TITLES = ["breaker front->back opens within 3 s", "front->back fails fast", "breaker front->back recovers"]


class FakeRuntime:
    def __init__(self, up: bool):
        self.up, self.downs = up, 0

    def status(self, name: str) -> Status:
        return Status.RUNNING if self.up else Status.STOPPED

    def down(self) -> list[str]:
        self.downs += 1
        return ["toxiproxy", "front", "back"]


class FakeEngine:
    """Stands in for the runner: each check gets the next status of `statuses`."""

    def __init__(self, statuses=("pass", "fail", "unknown"), raises: BaseException | None = None, up: bool = False):
        self.statuses, self.raises = statuses, raises
        self.runtime = FakeRuntime(up)
        self.runs: list = []  # the scenarios run, in order

    def run(self, session, scenario) -> RunResult:
        self.runs.append(scenario)
        if self.raises:
            raise self.raises
        verdicts = [Verdict(c.title(), s, f"evidence {i}: opened 0.17 s after the fault", {"latency_s": 0.17})
                    for i, (c, s) in enumerate(zip(scenario.checks, self.statuses))]
        return RunResult(scenario.name, verdicts, History(), 1.0, run_dir=Path("reports/r1"), run_id="abc123")


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr(pytest_plugin, "_run_scenario", lambda session, scenario: fake.run(session, scenario))
    monkeypatch.setattr(pytest_plugin, "_open_runtime", lambda session: fake.runtime)
    return fake


@pytest.fixture
def project(pytester):
    """A system file with a scenarios folder holding back-down.yaml."""
    (pytester.path / "proxies.json").write_text(json.dumps([{"name": "front_back", "listen": "127.0.0.1:16001",
                                                              "upstream": "127.0.0.1:18002"}]))
    (pytester.path / "system.yaml").write_text(SYSTEM)
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "back-down.yaml").write_text(SCENARIO)
    return pytester.path


def run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "--chaos-system", "system.yaml", *args)


def test_each_check_is_one_item_named_by_its_title_and_the_scenario_runs_once(pytester, project, engine):
    collected = run(pytester, "scenarios/back-down.yaml", "--collect-only", "-q")
    collected.stdout.fnmatch_lines([f"scenarios/back-down.yaml::{t}" for t in TITLES])
    result = run(pytester, "scenarios/back-down.yaml", "-v")
    result.assert_outcomes(passed=1, failed=2)
    assert len(engine.runs) == 1


def test_pass_fail_and_unknown_map_to_outcomes_with_the_evidence_and_no_traceback(pytester, project, engine):
    result = run(pytester, "scenarios/back-down.yaml", "-rA")
    result.stdout.fnmatch_lines([
        f"_* back-down: {TITLES[1]} _*", "evidence 1: opened 0.17 s after the fault",
        f"_* back-down: {TITLES[2]} _*", "UNKNOWN: evidence 2: opened 0.17 s after the fault",
        f"PASSED scenarios/back-down.yaml::{TITLES[0]}",
        f"FAILED scenarios/back-down.yaml::{TITLES[1]} - evidence 1*",
        f"FAILED scenarios/back-down.yaml::{TITLES[2]} - UNKNOWN: evid*",
    ])
    assert "Traceback" not in result.stdout.str() and "def runtest" not in result.stdout.str()


def test_junitxml_carries_each_verdict_and_its_evidence(pytester, project, engine):
    run(pytester, "scenarios/back-down.yaml", "--junitxml=out.xml")
    cases = {c.get("name"): c for c in ET.parse(project / "out.xml").getroot().iter("testcase")}
    assert list(cases) == TITLES
    props = {name: {p.get("name"): p.get("value") for p in c.iter("property")} for name, c in cases.items()}
    assert props[TITLES[0]]["evidence"] == "evidence 0: opened 0.17 s after the fault"
    assert props[TITLES[0]]["status"] == "pass" and props[TITLES[0]]["run_id"] == "abc123"
    assert props[TITLES[0]]["run_dir"] == str(Path("reports/r1"))
    assert json.loads(props[TITLES[0]]["figures"]) == {"latency_s": 0.17}
    assert cases[TITLES[0]].find("failure") is None
    assert cases[TITLES[1]].find("failure").get("message") == "evidence 1: opened 0.17 s after the fault"
    assert cases[TITLES[2]].find("failure").get("message") == "UNKNOWN: evidence 2: opened 0.17 s after the fault"
    assert props[TITLES[2]]["status"] == "unknown"


def test_a_broken_scenario_file_is_a_collection_error_naming_file_line_and_field(pytester, project, engine):
    (project / "scenarios" / "back-down.yaml").write_text(SCENARIO.replace("service: back", "servce: back"))
    result = run(pytester, "scenarios/back-down.yaml")
    result.stdout.fnmatch_lines(["scenarios/back-down.yaml:8: faults[0].servce: unknown field (did you mean 'service'?)",
                                 "*1 error*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED and engine.runs == []


def test_without_chaos_system_yaml_files_are_left_alone(pytester, project, engine):
    result = pytester.runpytest("-p", "no:cacheprovider", "scenarios/back-down.yaml", ".")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert engine.runs == [] and engine.runtime.downs == 0


def test_a_folder_yields_only_the_scenarios_folders_files(pytester, project, engine):
    (project / "notes").mkdir()
    (project / "notes" / "config.yaml").write_text("not: a scenario\n")
    result = run(pytester, ".", "--collect-only", "-q")
    assert "scenarios/back-down.yaml::front->back fails fast" in result.stdout.str()
    assert "config.yaml" not in result.stdout.str() and "system.yaml" not in result.stdout.str()


def test_a_set_up_failure_fails_every_item_of_the_file_with_it(pytester, project, engine):
    engine.raises = SetupError("port 18001 is taken")
    result = run(pytester, "scenarios/back-down.yaml", "-rA")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["_* back-down: front->back fails fast _*", "set-up failed: port 18001 is taken"])
    assert len(engine.runs) == 1


@pytest.mark.parametrize(("up_before", "downs"), [(False, 1), (True, 0)])
def test_the_system_is_stopped_at_the_end_only_when_the_plugin_started_it(pytester, project, engine, up_before, downs):
    engine.runtime.up = up_before
    (project / "scenarios" / "back-down-again.yaml").write_text(SCENARIO.replace("name: back-down", "name: back-down-again"))
    run(pytester, "scenarios")
    assert len(engine.runs) == 2 and engine.runtime.downs == downs  # kept up between files, stopped once


def test_ctrl_c_during_a_run_stops_pytest_and_still_stops_what_the_plugin_started(pytester, project, engine):
    engine.raises = KeyboardInterrupt()
    result = pytester.inline_run("-p", "no:cacheprovider", "--chaos-system", "system.yaml", "scenarios", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert len(engine.runs) == 1 and engine.runtime.downs == 1


def test_chaos_param_sets_a_declared_parameter_and_warns_about_an_unknown_one(pytester, project, engine):
    result = run(pytester, "scenarios", "--chaos-param", "down_for=8s", "--chaos-param", "latncy=1")
    assert engine.runs[0].values == {"down_for": 8.0}
    result.stdout.fnmatch_lines(["warning: --chaos-param latncy: no scenario of this session declares it"])


def test_chaos_run_takes_a_dict_a_name_and_params_and_names_the_field_of_a_typo(pytester, project, engine):
    pytester.makepyfile(test_python=textwrap.dedent(
        """\
        import pytest, yaml
        from chaos.errors import ConfigError
        from chaos.pytest_plugin import assert_verdicts

        SCENARIO = yaml.safe_load(open("scenarios/back-down.yaml"))

        def test_dict(chaos_run, chaos_system):
            result = chaos_run({**SCENARIO, "name": "from-python"}, down_for="7s")
            assert result.scenario == "from-python" and [v.status for v in result.verdicts] == ["pass", "fail", "unknown"]
            assert chaos_system.name == "two"

        def test_name(chaos_run):
            assert chaos_run("back-down").scenario == "back-down"

        def test_typo(chaos_run):
            bad = {**SCENARIO, "faults": [{"kind": "kill", "servce": "back", "at": "5s", "duration": "5s"}]}
            with pytest.raises(ConfigError, match=r"test_typo scenario: faults\\[0\\]\\.servce: unknown field"):
                chaos_run(bad)

        def test_assert_verdicts(chaos_run):
            assert_verdicts(chaos_run("back-down"))
        """))
    result = run(pytester, "test_python.py", "-rA")
    result.assert_outcomes(passed=3, failed=1)
    assert [s.values for s in engine.runs[:2]] == [{"down_for": 7.0}, {"down_for": 5.0}]
    result.stdout.fnmatch_lines([
        "*back-down: 2 of 3 checks did not pass (evidence in reports?r1)",
        "  FAIL    front->back fails fast: evidence 1: opened 0.17 s after the fault",
        "  UNKNOWN breaker front->back recovers: evidence 2: opened 0.17 s after the fault",
    ])


def test_the_chaos_fixtures_without_a_system_file_say_what_is_missing(pytester, engine):
    pytester.makepyfile("def test_it(chaos_run):\n    chaos_run('x')\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*the chaos fixtures need a system file: pass --chaos-system PATH*"])


def test_interruptible_turns_sigterm_into_keyboard_interrupt_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interruptible():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_ini_file_can_name_the_system_and_options(pytester, project, engine):
    pytester.makeini("[pytest]\nchaos_system = system.yaml\nchaos_reports = out/runs\n")
    pytester.makepyfile(test_python="def test_it(pytestconfig):\n"
                                    "    from chaos.pytest_plugin import _KEY\n"
                                    "    assert pytestconfig.stash[_KEY].reports == pytestconfig.rootpath / 'out/runs'\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "scenarios", "test_python.py")
    result.assert_outcomes(passed=2, failed=2)


def test_a_bad_ini_value_is_a_usage_error(pytester, project, engine):
    pytester.makeini("[pytest]\nchaos_system = system.yaml\nchaos_breakers = maybe\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*chaos_breakers must be one of on, off, not 'maybe'*"])
