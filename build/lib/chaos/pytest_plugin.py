"""pytest plugin: scenario files as test items, and fixtures to run scenarios from Python.

Off unless `--chaos-system PATH` (or the `chaos_system` ini option) is given.
Then a scenario file named on the command line, or found in the system's
scenarios folder, is one pytest file whose items are its checks: the scenario
runs once, on its first item, and each check's verdict passes or fails its
item ("unknown" fails too, never a pass). The engine does the work; this
module only collects, calls it, and maps verdicts to outcomes (docs/pytest.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chaos.checks import Verdict
    from chaos.engine.runner import RunResult
    from chaos.spec.scenario import Scenario

OPTIONS = {"system": None, "runtime": "local", "breakers": "on", "reports": "reports"}
CHOICES = {"runtime": ("local", "docker"), "breakers": ("on", "off")}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "flask-chaos scenarios (docs/pytest.md)")
    helps = {"system": "the system file; turns the plugin on", "runtime": "where services run (default local)",
             "breakers": "every breaker on or off (default on)", "reports": "where run folders go (default reports/)"}
    for name, text in helps.items():
        group.addoption(f"--chaos-{name}", dest=f"chaos_{name}", choices=CHOICES.get(name), help=text,
                        metavar=None if name in CHOICES else "PATH")
        parser.addini(f"chaos_{name}", text)
    group.addoption("--chaos-param", dest="chaos_param", action="append", default=[], metavar="NAME=VALUE",
                    help="a scenario parameter, for the scenarios that declare it (repeatable)")


def _option(config: pytest.Config, name: str) -> str:
    return config.getoption(f"chaos_{name}") or config.getini(f"chaos_{name}") or OPTIONS[name]  # type: ignore[return-value]


def _path(config: pytest.Config, name: str) -> Path:
    """A path option: from the current folder on the command line, from the rootdir in the ini file."""
    given = config.getoption(f"chaos_{name}")
    return Path(given) if given else config.rootpath / _option(config, name)


class ChaosSession:
    """The session's system, options and runtime; it remembers whether the
    system was up before its first run, to stop it at the end if it was not."""

    def __init__(self, config: pytest.Config):
        from chaos.errors import ConfigError
        from chaos.spec import load_system

        self.kind, self.breakers = _option(config, "runtime"), _option(config, "breakers")
        for name, value in (("runtime", self.kind), ("breakers", self.breakers)):
            if value not in CHOICES[name]:
                raise pytest.UsageError(f"chaos_{name} must be one of {', '.join(CHOICES[name])}, not '{value}'")
        self.reports = _path(config, "reports")
        self.params = dict(map(_param, config.getoption("chaos_param")))
        self.used: set[str] = set()  # the params some scenario declared
        self.runtime: Any = None
        self.was_up = True
        try:
            self.system = load_system(_path(config, "system"))
            if self.breakers == "off":
                from chaos.runtime import refuse_breakers_off_without_agents

                refuse_breakers_off_without_agents(self.system)
        except ConfigError as e:
            raise pytest.UsageError(str(e)) from None

    def load(self, what: str | Path | Mapping[str, Any], params: Mapping[str, Any], label: str) -> Scenario:
        """A scenario by name, path or dict; --chaos-param applies where the scenario declares it. ConfigError if bad."""
        from chaos.spec.scenario import find_scenario, load_scenario, scenario_from_data, user_env

        def load(p: Mapping[str, Any]) -> Scenario:
            if isinstance(what, Mapping):
                return scenario_from_data(dict(what), self.system, label, p, user_env())
            return load_scenario(find_scenario(str(what), self.system), self.system, p, user_env())

        scenario = load({})  # to learn which parameters it declares
        mine = {k: v for k, v in self.params.items() if k in scenario.spec.parameters}
        self.used |= mine.keys()
        mine.update({k: str(v) for k, v in params.items()})
        scenario = load(mine) if mine else scenario
        scenario.check_runtime(self.kind)
        return scenario

    def run(self, scenario: Scenario) -> RunResult:
        """Run one scenario, leaving the system up for the next; SetupError if it cannot."""
        if self.runtime is None:
            from chaos.runtime import TOXIPROXY, Status

            self.runtime = _open_runtime(self)
            self.was_up = all(self.runtime.status(u) is Status.RUNNING for u in [TOXIPROXY, *self.system.services])
        return _run_scenario(self, scenario)

    def finish(self) -> None:
        if self.runtime is not None and not self.was_up:
            self.runtime.down()


def _open_runtime(session: ChaosSession) -> Any:  # a seam: the unit tests put a fake runtime here
    from chaos.runtime import runtime_for

    return runtime_for(session.system, session.kind, session.breakers)


def _run_scenario(session: ChaosSession, scenario: Scenario) -> RunResult:  # the one seam to the engine
    from chaos.engine.interrupts import interruptible
    from chaos.engine.runner import Runner
    from chaos.spec.options import RunOptions
    from chaos.ui.console import Console

    with interruptible():  # Ctrl-C (and SIGTERM) reach the runner's rollback as KeyboardInterrupt
        return Runner(session.system, scenario, session.runtime, Console(), reports=session.reports,
                      options=RunOptions(session.breakers, session.kind)).run(keep_up=True)


def _param(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise pytest.UsageError(f"--chaos-param: expected NAME=VALUE, got '{item}'")
    return name.strip(), value


_KEY = pytest.StashKey[ChaosSession]()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("chaos_system") or config.getini("chaos_system"):
        config.stash[_KEY] = ChaosSession(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    chaos = session.config.stash.get(_KEY, None)
    if chaos is not None:
        chaos.finish()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    chaos = config.stash.get(_KEY, None)
    for name in sorted(set(chaos.params) - chaos.used) if chaos else []:
        terminalreporter.write_line(f"warning: --chaos-param {name}: no scenario of this session declares it", yellow=True)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    chaos = parent.config.stash.get(_KEY, None)
    if chaos is None or file_path.suffix not in (".yaml", ".yml"):
        return None
    if parent.session.isinitpath(file_path) or file_path.parent.resolve() == chaos.system.scenarios_dir.resolve():
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: its checks are the items; it runs once, on the first item."""

    scenario: Scenario
    _outcome: Any = None

    def collect(self):  # type: ignore[no-untyped-def]
        from chaos.errors import ConfigError

        here = Path.cwd()  # messages name the file as the user would
        path = self.path.relative_to(here) if self.path.is_relative_to(here) else self.path
        try:
            self.scenario = self.config.stash[_KEY].load(path, {}, str(path))
        except ConfigError as e:
            raise self.CollectError(str(e)) from None
        seen: dict[str, int] = {}
        for i, check in enumerate(self.scenario.checks):
            title = check.title()
            seen[title] = seen.get(title, 0) + 1
            yield CheckItem.from_parent(self, name=title if seen[title] == 1 else f"{title} [{seen[title]}]", index=i)

    def result(self) -> RunResult:
        """The scenario's one run; an exception it raised is raised again for every item."""
        if self._outcome is None:
            try:
                self._outcome = self.config.stash[_KEY].run(self.scenario)
            except Exception as e:  # noqa: BLE001 - KeyboardInterrupt passes: pytest stops, the runner rolled back
                self._outcome = e
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome


class CheckFailed(Exception):
    """A check's verdict was not "pass"."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.evidence)
        self.verdict = verdict


class CheckItem(pytest.Item):
    """One check of a scenario; it passes when the check's verdict is "pass"."""

    def __init__(self, *, index: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.index = index

    def runtest(self) -> None:
        result = self.parent.result()
        verdict = result.verdicts[self.index]
        self.user_properties.extend(properties(result, verdict))
        if not verdict.passed:
            raise CheckFailed(verdict)

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        from chaos.errors import SetupError

        if isinstance(excinfo.value, CheckFailed):
            return message(excinfo.value.verdict)
        if isinstance(excinfo.value, SetupError):
            return f"set-up failed: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.parent.scenario.name}: {self.name}"


def message(verdict: Verdict) -> str:
    """A verdict as a failure message: the evidence, "UNKNOWN: " first when the check could not tell."""
    return f"UNKNOWN: {verdict.evidence}" if verdict.status == "unknown" else verdict.evidence


def properties(result: RunResult, verdict: Verdict) -> list[tuple[str, str]]:
    """What --junitxml records of a check: the verdict, its evidence and figures, and where the run's evidence is."""
    return [("status", verdict.status), ("evidence", verdict.evidence), ("run_id", result.run_id),
            ("run_dir", str(result.run_dir or "")), ("figures", json.dumps(verdict.figures, default=str))]


def assert_verdicts(result: RunResult) -> None:
    """Fail the calling test, without a traceback, listing each check that failed or could not tell."""
    bad = [v for v in result.verdicts if not v.passed]
    if bad:
        where = f" (evidence in {result.run_dir})" if result.run_dir else ""
        pytest.fail(f"{result.scenario}: {len(bad)} of {len(result.verdicts)} checks did not pass{where}\n"
                    + "\n".join(f"  {v.status.upper():<7} {v.check}: {v.evidence}" for v in bad), pytrace=False)


@pytest.fixture(scope="session")
def chaos_system(pytestconfig: pytest.Config):  # type: ignore[no-untyped-def]
    """The System of --chaos-system."""
    return _session(pytestconfig).system


@pytest.fixture
def chaos_run(request: pytest.FixtureRequest) -> Callable[..., RunResult]:
    """`chaos_run(name_or_path_or_dict, **params)`: run a scenario, return its RunResult.
    A dict has the shape of a scenario file and is validated like one."""
    chaos = _session(request.config)

    def run(scenario: str | Path | Mapping[str, Any], **params: Any) -> RunResult:
        result = chaos.run(chaos.load(scenario, params, f"{request.node.nodeid} scenario"))
        request.node.user_properties.extend([("run_id", result.run_id), ("run_dir", str(result.run_dir or ""))])
        return result

    return run


def _session(config: pytest.Config) -> ChaosSession:
    chaos = config.stash.get(_KEY, None)
    if chaos is None:
        pytest.fail("the chaos fixtures need a system file: pass --chaos-system PATH (or set chaos_system in the ini file)",
                    pytrace=False)
    return chaos
