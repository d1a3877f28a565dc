"""Runs that do not collide: the same system on other ports.

A system file names fixed ports (each service's, Toxiproxy's API, each
proxy's listen port), so two runs on one machine would fight over them. A
run given a port offset moves every one of those ports by the offset, and
also every mention of them in the services' env and commands (a gateway's
`SHOP_ORDERS_URL: http://127.0.0.1:6102` must follow its proxy to 6202), as
Testcontainers gives each test its own ports. `auto` picks an offset whose
ports are all free.

Why by hand: no kept library rewrites a system description; the rule is
small (a port is moved where it stands alone or after a colon) and tested.
"""

from __future__ import annotations

import random
import re
import socket
from urllib.parse import urlsplit

from chaos.errors import ConfigError
from chaos.spec.system import Proxy, System

MAX_OFFSET = 20_000
_AUTO_TRIES = 40


def known_ports(system: System) -> set[int]:
    """Every port the system file fixes: services (and their other `ports`), Toxiproxy's API, proxies' listen ports."""
    ports = {s.port for s in system.services.values()}
    ports.update(p for s in system.services.values() for p in s.ports.values())
    ports.add(urlsplit(system.spec.toxiproxy.url).port or 8474)
    for proxy in system.proxies.values():
        ports.add(_port(proxy.listen))
    return ports


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


def shift_text(text: str, ports: set[int], offset: int) -> str:
    """`text` with every known port moved by `offset`: a whole word that is a
    port ("8474"), or a port after a colon ("127.0.0.1:6101", "http://x:5100/")."""
    if text.isdigit() and int(text) in ports:
        return str(int(text) + offset)

    def move(m: re.Match[str]) -> str:
        port = int(m.group(2))
        return f"{m.group(1)}{port + offset}" if port in ports else m.group(0)

    return re.sub(r"(:)(\d{1,5})(?!\d)", move, text)


def shifted(system: System, offset: int) -> System:
    """The same system with every fixed port moved by `offset` (0: itself).

    Toxiproxy's `-config FILE` is dropped from its command: that file names
    the unmoved ports, and the runtime creates every proxy through the API
    anyway."""
    if offset == 0:
        return system
    if not 0 < offset <= MAX_OFFSET:
        raise ConfigError(None, None, "--port-offset", f"must be between 1 and {MAX_OFFSET}, not {offset}")
    ports = known_ports(system)
    if max(ports) + offset > 65535:
        raise ConfigError(None, None, "--port-offset", f"{offset} would move port {max(ports)} past 65535")
    spec = system.spec
    services = {
        name: s.model_copy(update={
            "port": s.port + offset,
            "ports": {n: p + offset for n, p in s.ports.items()},
            "env": {k: shift_text(v, ports, offset) for k, v in s.env.items()},
            "command": [shift_text(part, ports, offset) for part in s.command],
        })
        for name, s in spec.services.items()
    }
    command = _without_config([shift_text(part, ports, offset) for part in spec.toxiproxy.command])
    toxiproxy = spec.toxiproxy.model_copy(update={"url": shift_text(spec.toxiproxy.url, ports, offset), "command": command})
    proxies = [Proxy(name=p.name, listen=shift_text(p.listen, ports, offset), upstream=shift_text(p.upstream, ports, offset),
                     enabled=p.enabled) for p in system.proxies.values()]
    moved = System(spec.model_copy(update={"services": services, "toxiproxy": toxiproxy}), system.path, proxies)
    moved.docker_proxies = system.docker_proxies
    moved.source = system.source
    moved.port_offset = offset
    return moved


def _without_config(command: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for part in command:
        if skip:
            skip = False
            continue
        if part in ("-config", "--config"):
            skip = True
            continue
        if part.startswith(("-config=", "--config=")):
            continue
        out.append(part)
    return out


def free_offset(system: System, rng: random.Random | None = None) -> int:
    """An offset (a multiple of 100) at which every port of the system is free.
    Drawn at random, so two runs starting at once are unlikely to draw the same."""
    rng = rng or random.SystemRandom()
    ports = known_ports(system)
    limit = min(MAX_OFFSET, 65535 - max(ports)) // 100
    if limit < 1:
        raise ConfigError(None, None, "--port-offset", "no room above the system's ports for another run")
    for _ in range(_AUTO_TRIES):
        offset = rng.randint(1, limit) * 100
        if all(_free(p + offset) for p in ports):
            return offset
    raise ConfigError(None, None, "--port-offset", f"found no offset with all {len(ports)} ports free in {_AUTO_TRIES} tries")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
