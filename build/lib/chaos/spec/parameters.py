"""Scenario parameters: declared and typed in the file, overridable by a user.

A scenario declares `parameters: {latency_ms: {type: int, default: 3000}}`
and uses `${latency_ms}` anywhere in its values. A user overrides it with
`chaos run order-slow --param latency_ms=5000`, or through the environment
(`LATENCY_MS=5000`, which is how `make chaos ... LATENCY_MS=5000` reaches
it). Values are checked against the declared type and bounds before the
scenario itself is validated, so a bad value is refused like a bad file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from chaos.errors import ConfigError, ConfigErrors
from chaos.spec.model import Model, parse_duration
from chaos.spec.source import Source, validate

_REF = re.compile(r"\$\{(\w+)\}")
# Environment variables that mean something else: never read as parameters.
RESERVED = {"PATH", "HOME", "USER", "SHELL", "PWD", "LANG", "TERM", "CI", "BREAKERS", "RUNTIME", "SCENARIO", "REPEAT", "TMPDIR"}


class Parameter(Model):
    type: Literal["int", "float", "duration", "str"]
    default: int | float | str
    min: float | None = None
    max: float | None = None
    description: str = ""


class ParameterBlock(Model):
    """Only the `parameters` key of a scenario; the rest is validated later."""

    model_config = Model.model_config | {"extra": "ignore"}
    parameters: dict[str, Parameter] = Field(default={})


def convert(name: str, spec: Parameter, raw: Any) -> Any:
    """`raw` as the parameter's type, within its bounds; ValueError if not."""
    if spec.type == "str":
        return str(raw)
    try:
        if spec.type == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value: Any = int(raw)
        elif spec.type == "float":
            value = float(raw)
        else:
            value = parse_duration(raw)
    except (TypeError, ValueError) as e:
        kind = {"int": "an integer", "float": "a number", "duration": "a duration such as 3s or 250ms"}[spec.type]
        raise ValueError(f"expected {kind}, got {raw!r}") from e
    if spec.min is not None and value < spec.min:
        raise ValueError(f"{value} is below the minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"{value} is above the maximum {spec.max:g}")
    return value


def resolve(source: Source, overrides: Mapping[str, str], env: Mapping[str, str]) -> tuple[Any, dict[str, Any]]:
    """The scenario's data with every ${name} replaced, and the values used.

    Precedence: `overrides` (--param), then the environment (NAME in upper
    case), then the declared default."""
    block: ParameterBlock = validate(ParameterBlock, source)
    specs = block.parameters
    problems: list[ConfigError] = []
    for name in overrides:
        if name not in specs:
            known = ", ".join(specs) or "none"
            problems.append(ConfigError(source.path, None, f"--param {name}", f"the scenario has no such parameter (known: {known})"))
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        env_name = name.upper()
        if name in overrides:
            raw, origin = overrides[name], f"--param {name}"
        elif env_name not in RESERVED and env_name in env:
            raw, origin = env[env_name], f"{env_name} in the environment"
        else:
            raw, origin = spec.default, "its default"
        try:
            values[name] = convert(name, spec, raw)
        except ValueError as e:
            problems.append(source.error(("parameters", name), f"{e} (from {origin})"))
    if problems:
        raise ConfigErrors(problems)

    def fill(obj: Any, loc: tuple) -> Any:
        if isinstance(obj, str):
            whole = _REF.fullmatch(obj)
            for ref in _REF.findall(obj):
                if ref not in values:
                    problems.append(source.error(loc, f"uses ${{{ref}}}, which is not under parameters:"))
                    return obj
            if whole:
                return values[whole.group(1)]
            return _REF.sub(lambda m: str(values[m.group(1)]), obj)
        if isinstance(obj, dict):
            return {k: (v if k == "parameters" and not loc else fill(v, loc + (k,))) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v, loc + (i,)) for i, v in enumerate(obj)]
        return obj

    data = fill(source.data, ())
    if problems:
        raise ConfigErrors(problems)
    return data, values
