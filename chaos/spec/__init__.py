"""The typed inputs: the system file, scenario files and what they are built from.

`load_system` is here, not in `system`, so that the system's own checks and
the Docker cross-checks (`docker_check`) each import `system` and nothing
imports back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pydantic

from chaos.errors import ConfigError
from chaos.spec.docker_check import check_docker
from chaos.spec.source import Source, load_yaml, validate
from chaos.spec.system import SYSTEM_VOCABULARY, Proxy, System, SystemSpec, cross_check


def load_system(path: Path) -> System:
    """Load and cross-check a system file and its proxy list; ConfigError on any problem."""
    source = load_yaml(path)
    spec: SystemSpec = validate(SystemSpec, source, SYSTEM_VOCABULARY)
    proxies_path = path.parent / spec.toxiproxy.proxies
    proxies = _load_proxies(proxies_path, source)
    system = System(spec, path, proxies)
    system.source = source
    cross_check(system, source)
    if spec.docker:
        docker_proxies = _load_proxies(path.parent / spec.docker.proxies, source, ("docker", "proxies"))
        system.docker_proxies = {p.name: p for p in docker_proxies}
        check_docker(system, source)
    if spec.swarm:
        _check_swarm(system, source)
    return system


def _check_swarm(system: System, source: Source) -> None:
    """The swarm: section builds on the docker: one and names real services."""
    swarm = system.spec.swarm
    assert swarm is not None
    if system.spec.docker is None:
        raise source.error(("swarm",), "needs a docker: section: the stack is derived from its compose file")
    for name, count in swarm.replicas.items():
        if name not in system.services:
            raise source.error(("swarm", "replicas", name), f"unknown service '{name}' (known: {', '.join(system.services)})")
        if not 1 <= count <= 20:
            raise source.error(("swarm", "replicas", name), f"must be between 1 and 20, not {count}")


def _load_proxies(path: Path, source: Source, loc: tuple[str, ...] = ("toxiproxy", "proxies")) -> list[Proxy]:
    try:
        raw = json.loads(path.read_text())
        return pydantic.TypeAdapter(list[Proxy]).validate_python(raw)
    except FileNotFoundError:
        raise source.error(loc, f"proxy list {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ConfigError(path, e.lineno, None, f"invalid JSON: {e.msg}") from None
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(path, None, ".".join(map(str, err["loc"])), err["msg"]) from None
