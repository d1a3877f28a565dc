"""A scenario's own settings for the services it runs: environment
variables over the system file's `env:`, e.g. a short breaker reset timeout
so that a scenario found by `chaos explore` replays in the time-compressed
profile it was found in.

Only settings the agent reports back belong here (a breaker's reset timeout
or fail_max: the checks read them from the agent, the one that knows). A
setting the system file also states, such as an edge's `read_timeout`,
would then have two sources of truth, so the toolkit's own variables are
refused; the rest is the user's to keep consistent.
"""

from __future__ import annotations

from pydantic import Field

from chaos.errors import ConfigError
from chaos.spec.model import Model
from chaos.spec.system import System

# Set by the toolkit for every run (chaos.runtime, chaos.clients.agent): a scenario may not change them.
RESERVED_PREFIXES = ("CHAOS_",)
RESERVED = {"PORT"}


class ServiceOverride(Model):
    env: dict[str, str] = Field(default={}, description="environment variables set for this scenario, over the system file's")


class SystemOverrides(Model):
    """The `system:` block of a scenario file."""

    services: dict[str, ServiceOverride] = Field(default={})


def check_refs(overrides: SystemOverrides, system: System) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems as (field path, message): unknown services, reserved variables."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name, service in overrides.services.items():
        if name not in system.services:
            problems.append((("services", name), f"unknown service '{name}' (known: {', '.join(system.services)})"))
        for key in service.env:
            if key in RESERVED or key.startswith(RESERVED_PREFIXES):
                problems.append((("services", name, "env", key), f"{key} is set by the toolkit for every run; a scenario cannot change it"))
    return problems


def applied(system: System, overrides: SystemOverrides | None) -> System:
    """`system` with each overridden service's env updated (the system itself
    when there is nothing to override). The local runtime restarts a service
    whose env changed, and starts it again as the system file says afterwards."""
    if overrides is None or not overrides.services:
        return system
    services = {
        name: (spec.model_copy(update={"env": {**spec.env, **overrides.services[name].env}}) if name in overrides.services else spec)
        for name, spec in system.spec.services.items()
    }
    out = System(system.spec.model_copy(update={"services": services}), system.path, list(system.proxies.values()))
    out.docker_proxies = system.docker_proxies
    out.source = system.source
    out.port_offset = system.port_offset
    return out


def missing(system: System, overrides: SystemOverrides | None) -> list[str]:
    """The overridden variables `system` does not carry, as 'service NAME=value'."""
    if overrides is None:
        return []
    return [f"{name} {key}={value}" for name, o in overrides.services.items() for key, value in o.env.items()
            if name in system.services and system.services[name].env.get(key) != value]


def refuse_on(runtime: str, overrides: SystemOverrides | None, path, compose_env: dict[str, dict[str, str]] | None = None) -> None:  # type: ignore[no-untyped-def]
    """ConfigError when `runtime` cannot honour the overrides. The Docker
    runtime takes its containers' env from the compose file (`compose_env`,
    see `compose_environment`): a setting that file already gives the
    service is honoured as it stands; any other is refused, naming it."""
    if overrides is None or not overrides.services or runtime == "local":
        return
    if runtime == "docker" and compose_env is not None:
        for name, o in overrides.services.items():
            for key, value in o.env.items():
                have = compose_env.get(name, {}).get(key)
                if have != value:
                    says = f"sets {key}={have}" if have is not None else f"does not set {key}"
                    raise ConfigError(path, None, f"system.services.{name}.env.{key}",
                                      f"the Docker runtime takes its containers' env from the compose file, which {says} "
                                      f"for {name}, not {value}: run it on the local runtime, or set it in the compose file")
        return
    raise ConfigError(path, None, "system", f"settings for the services work on the local runtime only, not {runtime} "
                                            f"(its containers take their env from the compose file)")


def compose_environment(system: System) -> dict[str, dict[str, str]] | None:
    """The environment the system's compose file gives each service, by
    service (`KEY=value` items of a list, or a mapping); a variable passed
    through from the caller (`- KEY`) is left out: its value is unknown here.
    None when the system has no docker: section or its compose file cannot be
    read (the system file's own checks report that)."""
    if system.spec.docker is None:
        return None
    import yaml

    try:
        services = yaml.safe_load((system.root / system.spec.docker.compose).read_text()).get("services") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    out: dict[str, dict[str, str]] = {}
    for name, spec in services.items():
        env = spec.get("environment") if isinstance(spec, dict) else None
        if isinstance(env, dict):
            out[name] = {str(k): str(v) for k, v in env.items() if v is not None}
        elif isinstance(env, list):
            out[name] = dict(str(item).split("=", 1) for item in env if "=" in str(item))
    return out
