"""Cross-checks of a system file's docker: section against the files it names.

The Docker runtime trusts three things it cannot see at run time, so loading
the system file checks them, with file, line and field in each message:

- the compose file has a service for Toxiproxy and for every service, each
  labelled as ours (io.flask-chaos.project = the project, io.flask-chaos.service
  = its name) and on the network the section names;
- every published port is on a loopback address, and each unit publishes the
  port its URL in the system file uses (through the container whose network
  it shares, when it has `network_mode: service:NAME`);
- the Docker proxy list has the same proxies as the local one, each
  forwarding to its edge's target by service name inside the network.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from chaos.errors import ConfigError
from chaos.spec.source import Source, load_yaml
from chaos.spec.system import System

OUR_PROJECT = "io.flask-chaos.project"
OUR_SERVICE = "io.flask-chaos.service"


def check_docker(system: System, source: Source) -> None:
    """Raise ConfigError on the first way the docker: section, the compose
    file and the Docker proxy list disagree with each other or the system."""
    docker = system.spec.docker
    assert docker is not None
    _check_docker_proxies(system, source)
    path = system.root / docker.compose
    if not path.exists():
        raise source.error(("docker", "compose"), f"compose file {path} does not exist")
    compose = load_yaml(path)
    services = compose.data.get("services") if isinstance(compose.data, dict) else None
    if not isinstance(services, dict):
        raise ConfigError(path, 1, "services", "a compose file needs a services: mapping")
    tp = urlsplit(system.spec.toxiproxy.url)
    ports = {"toxiproxy": tp.port or 8474, **{n: s.port for n, s in system.services.items()}}
    for unit, port in ports.items():
        if unit not in services:
            raise source.error(("docker", "compose"), f"{path.name} has no service '{unit}' (it has: {', '.join(services)})")
        spec = services[unit] or {}
        _check_labels(compose, unit, spec, docker.project)
        # A unit in another container's network namespace (network_mode:
        # service:HOLDER) is reached through that container's network and ports.
        holder = str(spec.get("network_mode", "")).removeprefix("service:")
        if holder and holder != spec.get("network_mode") and holder in services:
            _check_labels(compose, holder, services[holder] or {}, docker.project)
            unit, spec = holder, services[holder] or {}
        _check_network(compose, unit, spec, docker.network)
        _check_ports(compose, unit, spec, port)


def _check_docker_proxies(system: System, source: Source) -> None:
    local, inside = set(system.proxies), set(system.docker_proxies)
    if local != inside:
        missing, extra = sorted(local - inside), sorted(inside - local)
        detail = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}", extra and f"extra {', '.join(extra)}"]))
        raise source.error(("docker", "proxies"), f"the Docker proxy list must name the same proxies as the local one: {detail}")
    for i, edge in enumerate(system.spec.edges):
        proxy = system.docker_proxies[edge.proxy]
        target = system.services[edge.target]
        want = f"{edge.target}:{target.port}"
        if proxy.upstream not in {want, *(f"{edge.target}:{p}" for p in target.ports.values())}:
            raise source.error(
                ("docker", "proxies"),
                f"proxy '{proxy.name}' forwards to {proxy.upstream}, but edges[{i}] goes to {edge.target}, "
                f"reached as {want} inside the network",
            )


def _labels(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("labels") or {}
    if isinstance(raw, list):  # the list form: ["key=value", ...]
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(k): str(v) for k, v in raw.items()}


def _check_labels(compose: Source, unit: str, spec: dict[str, Any], project: str) -> None:
    labels = _labels(spec)
    for key, want in ((OUR_PROJECT, project), (OUR_SERVICE, unit)):
        if labels.get(key) != want:
            got = f"'{labels[key]}'" if key in labels else "missing"
            raise compose.error(
                ("services", unit, "labels"),
                f"needs the label {key}: {want} (got {got}): the Docker runtime acts only on containers labelled as ours",
            )


def _check_network(compose: Source, unit: str, spec: dict[str, Any], network: str) -> None:
    networks = spec.get("networks") or ["default"]
    if network not in networks:
        raise compose.error(("services", unit), f"must be on the network '{network}' (the system file's docker.network)")


def _check_ports(compose: Source, unit: str, spec: dict[str, Any], port: int) -> None:
    published = False
    for i, entry in enumerate(spec.get("ports") or []):
        host_ip, host_port = _split_port(entry)
        if host_ip is None or not _loopback(host_ip):
            raise compose.error(
                ("services", unit, "ports", i),
                f"publishes on {host_ip or 'every interface'}: publish on 127.0.0.1 only (e.g. \"127.0.0.1:{port}:{port}\")",
            )
        published = published or host_port == str(port)
    if not published:
        raise compose.error(("services", unit), f"must publish 127.0.0.1:{port}, where the system file reaches it")


def _split_port(entry: Any) -> tuple[str | None, str | None]:
    """(host address, host port) of one ports: entry, short or long syntax."""
    if isinstance(entry, dict):
        published = entry.get("published")
        return entry.get("host_ip"), str(published) if published is not None else None
    parts = str(entry).split("/")[0].rsplit(":", 2)
    if len(parts) == 3:
        return parts[0].strip("[]"), parts[1]
    return None, parts[0] if len(parts) == 2 else None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
