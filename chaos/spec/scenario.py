"""Scenario files: parsed once into typed objects, refused before anything starts.

A scenario says what load to send, which faults to inject when, and what to
check afterwards. `load_scenario` checks the file against the system file too
(services, edges, routes and breakers it names must exist, faults must end
before the scenario does), so a run never starts on a file that cannot work.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field

from chaos.checks import CHECKS, Check, check_union
from chaos.errors import ConfigError, ConfigErrors
from chaos.faults import FAULTS, Fault, OnlyOn, fault_union, is_instant
from chaos.spec import overrides as _overrides
from chaos.spec.model import Model, Seconds, model_vocabulary
from chaos.spec.parameters import Parameter, resolve
from chaos.spec.source import Source, load_yaml, validate
from chaos.spec.system import NAME, System


class LoadSpec(Model):
    rate: float = Field(default=40.0, gt=0, le=1000, description="requests per second, sent on a fixed schedule")
    mix: dict[str, int] | None = Field(default=None, description="route -> weight; default every route alike")
    timeout: Seconds = Field(default=3.0, gt=0, le=60, description="the load client's own timeout")
    max_lag: Seconds = Field(
        default=0.1, gt=0, le=60,
        description="schedule lag p99 (request start minus due time) beyond which load was not delivered, "
        "and checks of latency and success rates say unknown",
    )


@cache
def _scenario_model() -> type[pydantic.BaseModel]:
    """Built once the fault and check registries are filled."""

    class Scenario(Model):
        name: str = Field(pattern=NAME)
        description: str = Field(min_length=1)
        duration: Seconds = Field(gt=0)
        seed: int = 1
        runtimes: list[Literal["local", "docker", "swarm"]] | None = Field(
            default=None, min_length=1, description="the runtimes this scenario can run on (unset: every one)")
        parameters: dict[str, Parameter] = {}
        system: _overrides.SystemOverrides | None = None
        load: LoadSpec = LoadSpec()
        faults: list[fault_union()] = Field(min_length=1)  # type: ignore[valid-type]
        checks: list[check_union()] = Field(min_length=1)  # type: ignore[valid-type]

    return Scenario


def scenario_vocabulary() -> set[str]:
    return model_vocabulary(_scenario_model(), *FAULTS.values(), *CHECKS.values(), _overrides.ServiceOverride)


class Scenario:
    """A validated scenario. `spec` is the typed file; the rest is derived."""

    def __init__(self, spec: pydantic.BaseModel, path: Path, values: dict[str, Any] | None = None,
                 lines: dict[str, int | None] | None = None, compose_env: dict[str, dict[str, str]] | None = None):
        self.spec = spec
        self.path = path
        # The line of a few fields a runtime may refuse ("runtimes", "faults[0].replicas"), for its message.
        self.lines = dict(lines or {})
        self.values = dict(values or {})  # parameter values used
        # What the Docker runtime's containers are given (check_runtime).
        self.compose_env = compose_env

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return " ".join(self.spec.description.split())

    @property
    def summary(self) -> str:
        """The description's first sentence: one line for `chaos list`."""
        first = self.description.split(". ")[0].rstrip(".")
        return first + "."

    @property
    def duration(self) -> float:
        return self.spec.duration

    @property
    def load(self) -> LoadSpec:
        return self.spec.load

    @property
    def faults(self) -> list[Fault]:
        return list(self.spec.faults)

    @property
    def checks(self) -> list[Check]:
        return list(self.spec.checks)

    @property
    def seed(self) -> int:
        return self.spec.seed

    def system_for(self, system: System) -> System:
        """The system as this scenario runs it: with its `system:` settings for
        the services (their env), if it has any; else `system` itself."""
        return _overrides.applied(system, self.spec.system)

    def unapplied(self, system: System) -> list[str]:
        """This scenario's service settings that `system` lacks ('gateway NAME=value')."""
        return _overrides.missing(system, self.spec.system)

    def needs(self, runtime: str) -> str | None:
        """'needs RUNTIME=swarm' when the scenario's `runtimes:` leave `runtime` out; else None."""
        wanted = self.spec.runtimes
        if wanted is None or runtime in wanted:
            return None
        return f"needs RUNTIME={' or RUNTIME='.join(wanted)}"

    def check_runtime(self, runtime: str) -> None:
        """ConfigError naming the first fault this runtime cannot inject, or
        service settings it cannot apply, or the scenario's own `runtimes:`
        when they leave this runtime out."""
        needs = self.needs(runtime)
        if needs:
            raise ConfigError(self.path, self.lines.get("runtimes"), "runtimes", f"{needs} (this is the {runtime} runtime)")
        _overrides.refuse_on(runtime, self.spec.system, self.path, self.compose_env)
        for i, fault in enumerate(self.faults):
            if isinstance(fault, OnlyOn) and runtime not in fault.runtimes:
                raise ConfigError(self.path, self.lines.get(f"faults[{i}].kind"), f"faults[{i}].kind",
                                  f"{fault.kind} works on the {' and '.join(sorted(fault.runtimes))} runtime only, not {runtime}")
            if getattr(fault, "replicas", None) is not None and runtime != "swarm":
                raise ConfigError(self.path, self.lines.get(f"faults[{i}].replicas"), f"faults[{i}].replicas",
                                  f"acts on replicas, which only the swarm runtime runs: needs RUNTIME=swarm, not {runtime}")

    def blind_spots(self, system: System) -> list[str]:
        """One warning per check that cannot be judged on `system`: its verdict
        will be unknown, for the reason given."""
        mix = self.mix(system)
        out = []
        for i, check in enumerate(self.checks):
            for reason in check.blind_spots(system, mix):
                out.append(f"{self.path}: checks[{i}] ({check.title()}) will be UNKNOWN: {reason}")
        return out

    def mix(self, system: System) -> dict[str, int]:
        return dict(self.spec.load.mix) if self.spec.load.mix else {r: 1 for r in system.routes}

    def plan(self, system: System) -> list[str]:
        """What a run will do, in order, and what it will check: for `chaos describe` and `--dry-run`."""
        lines = [f"{self.name}: {self.description}", ""]
        if self.values:
            lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in self.values.items()))
        if self.spec.system and self.spec.system.services:
            lines.append("services run with: " + "; ".join(
                f"{name} " + " ".join(f"{k}={v}" for k, v in o.env.items()) for name, o in self.spec.system.services.items()))
        mix = self.mix(system)
        lines.append(f"load: {self.load.rate:g} req/s to {system.spec.entrypoint} for {self.duration:g} s, "
                     + ", ".join(f"{r} {w}" for r, w in mix.items()) + f" (seed {self.seed})")
        lines.append(f"      delivered means at least 95% of {self.load.rate:g} req/s started, schedule lag p99 within "
                     f"{self.load.max_lag * 1000:g} ms (load.max_lag), answers within {self.load.timeout:g} s (load.timeout); "
                     "otherwise checks of latency and success rates say unknown")
        events: list[tuple[float, str]] = []
        for fault in self.faults:
            events.extend(fault.timeline(self.duration))
        lines.append("timeline:")
        lines.append(f"  {0:6.1f} s  load starts")
        for at, text in sorted(events, key=lambda e: e[0]):
            lines.append(f"  {at:6.1f} s  {text}")
        lines.append(f"  {self.duration:6.1f} s  load stops; faults still active are reverted; acknowledged writes are read back")
        waits = [c.within for c in self.checks if c.kind == "deliveries"]  # type: ignore[attr-defined]
        if waits:
            lines.append(f"           then the sinks are read until every promised message arrived (at most {max(waits):g} s "
                         "after the faults end)")
        lines.append("checks:")
        mix = self.mix(system)
        for check in self.checks:
            blind = check.blind_spots(system, mix)
            lines.append(f"  - {check.title()}" + (f"  [UNKNOWN: {'; '.join(blind)}]" if blind else ""))
        return lines


def find_scenario(name_or_path: str, system: System) -> Path:
    """A scenario by name (scenarios/NAME.yaml, or scenarios/SUB/NAME.yaml
    for `SUB/NAME`, as chaos explore writes `found/NAME`) or by path;
    ConfigError if there is none."""
    as_path = Path(name_or_path)
    if as_path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if as_path.exists():
            return as_path
        nested = system.scenarios_dir / f"{name_or_path}.yaml"
        if as_path.suffix not in (".yaml", ".yml") and nested.exists():
            return nested
        raise ConfigError(as_path, None, None, "no such scenario file")
    candidate = system.scenarios_dir / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = list_scenarios(system)
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        None, None, None, f"no scenario '{name_or_path}' in {system.scenarios_dir} (known: {', '.join(known)}).{hint}"
    )


def list_scenarios(system: System) -> list[str]:
    return sorted(p.stem for p in system.scenarios_dir.glob("*.yaml"))


def load_scenario(path: Path, system: System, params: Mapping[str, str] | None = None,
                  env: Mapping[str, str] | None = None) -> Scenario:
    """Parse, validate and cross-check one scenario file. `params` override
    its parameters (name -> text); so does `env` (NAME -> text; default: none)."""
    return _scenario(load_yaml(path), system, params, env, named_by_file=True)


def scenario_from_data(data: Any, system: System, name_for_messages: str = "<scenario>",
                       params: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Scenario:
    """A scenario from data shaped like a scenario file (a dict, as written in
    Python), validated and cross-checked exactly as `load_scenario` does a
    file. Errors name `name_for_messages` and the field (there are no lines);
    the name need not match any file name."""
    return _scenario(Source(Path(name_for_messages), data, {}), system, params, env, named_by_file=False)


def _scenario(source: Source, system: System, params: Mapping[str, Any] | None, env: Mapping[str, str] | None,
              named_by_file: bool) -> Scenario:
    if not isinstance(source.data, dict):
        raise source.error((), "a scenario is a mapping of name, description, duration, load, faults and checks")
    data, values = resolve(source, params or {}, env if env is not None else {})
    source = dataclasses.replace(source, data=data)
    spec = validate(_scenario_model(), source, scenario_vocabulary())
    _cross_check(spec, source, system, named_by_file)
    lines = {"runtimes": source.line_of(("runtimes",))}
    for i, _ in enumerate(spec.faults):
        for field in ("kind", "replicas"):
            lines[f"faults[{i}].{field}"] = source.line_of(("faults", i, field))
    compose_env = _overrides.compose_environment(system) if spec.system is not None and spec.system.services else None
    return Scenario(spec, source.path, values, lines, compose_env)


def user_env() -> Mapping[str, str]:
    """The environment, where `make chaos ... NAME=value` puts parameter values."""
    return os.environ


def _cross_check(spec: pydantic.BaseModel, source: Source, system: System, named_by_file: bool = True) -> None:
    problems: list[ConfigError] = []
    if named_by_file and source.path.stem != spec.name:
        problems.append(source.error(("name",), f"must match the file name '{source.path.stem}'"))
    for i, fault in enumerate(spec.faults):
        problems += [source.error(("faults", i, *loc), msg) for loc, msg in fault.check_refs(system)]
        end = fault.at + (fault.duration or 0.0)
        if end > spec.duration:
            problems.append(source.error(("faults", i, "duration" if fault.duration else "at"),
                                         f"the fault would end at {end:g} s, after the scenario's duration of {spec.duration:g} s"))
        if is_instant(fault) and (fault.duration is not None or fault.flap is not None):
            problems.append(source.error(("faults", i, "duration" if fault.duration is not None else "flap"),
                                         f"a {fault.kind} is instant: it takes no duration or flap"))
        if fault.at <= 0:
            problems.append(source.error(("faults", i, "at"), "a fault must start after load does, to leave a baseline (at > 0)"))
    for i, check in enumerate(spec.checks):
        problems += [source.error(("checks", i, *loc), msg) for loc, msg in check.check_refs(system)]
    if spec.system is not None:
        problems += [source.error(("system", *loc), msg) for loc, msg in _overrides.check_refs(spec.system, system)]
    for route in spec.load.mix or {}:
        if route not in system.routes:
            problems.append(source.error(("load", "mix", route), f"unknown route '{route}' (known: {', '.join(system.routes)})"))
    for route, weight in (spec.load.mix or {}).items():
        if weight < 0:
            problems.append(source.error(("load", "mix", route), "a weight must be zero or more"))
    if spec.load.mix is not None and not any(spec.load.mix.values()):
        problems.append(source.error(("load", "mix"), "at least one route needs a weight above zero"))
    if problems:
        raise ConfigErrors(problems)
