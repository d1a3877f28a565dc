"""`chaos init`: a starter system file, proxy list and first scenario, ready to edit.

A `Starter` is what is known about a system before anyone has written its
system file: its services and their ports, who calls whom, the entrypoint,
a few routes. It comes from flags (`from_flags`), from a compose file
(`from_compose`), or both (flags add to and override the compose file).
`render` turns it into the three files' text, commented where the user must
edit; `write` puts them in a folder, refusing to overwrite without `force`,
and loads them back so what it leaves always loads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from chaos.errors import ConfigError
from chaos.spec.system import NAME

SYSTEM_FILE = "system.yaml"
PROXIES_FILE = "proxies.json"
SCENARIOS_DIR = "scenarios"
DEFAULT_TOXIPROXY_PORT = 8474
_NAME = re.compile(NAME)


@dataclass(frozen=True)
class Starter:
    """What `chaos init` knows about a system. Edges are (caller, callee) pairs."""

    name: str = "system"
    services: dict[str, int] = field(default_factory=dict)
    edges: tuple[tuple[str, str], ...] = ()
    entry: str | None = None
    routes: dict[str, str] = field(default_factory=dict)
    toxiproxy_port: int = DEFAULT_TOXIPROXY_PORT
    proxy_base: int | None = None

    @property
    def entrypoint(self) -> str:
        """The given entry, else the first service nobody calls, else the first service."""
        if self.entry is not None:
            return self.entry
        called = {callee for _, callee in self.edges}
        return next((s for s in self.services if s not in called), next(iter(self.services)))

    def proxy_ports(self) -> list[int]:
        """One listen port per edge, counted up from the base (toxiproxy port + 1000
        unless given), skipping the ports of services and of Toxiproxy itself."""
        taken = {*self.services.values(), self.toxiproxy_port}
        port = self.proxy_base if self.proxy_base is not None else self.toxiproxy_port + 1000
        out = []
        for _ in self.edges:
            while port in taken:
                port += 1
            if port > 65535:
                raise ConfigError(None, None, "--proxy-base", f"no room for {len(self.edges)} proxy ports below 65536")
            out.append(port)
            taken.add(port)
        return out

    def reachable(self, start: str) -> list[str]:
        """Every service `start` calls, directly or not, in the order of the edges."""
        seen: list[str] = []
        todo = [start]
        while todo:
            here = todo.pop(0)
            for caller, callee in self.edges:
                if caller == here and callee not in seen and callee != start:
                    seen.append(callee)
                    todo.append(callee)
        return seen


def _name(value: str, flag: str) -> str:
    if not _NAME.match(value):
        raise ConfigError(None, None, flag, f"'{value}' is not a usable name: lower-case letters, digits, - and _, starting with a letter")
    return value


def _port(value: Any, flag: str) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ConfigError(None, None, flag, f"'{value}' is not a port number") from None
    if not 1 <= port <= 65535:
        raise ConfigError(None, None, flag, f"{port} is not a port number (1-65535)")
    return port


def from_flags(base: Starter | None = None, *, services: list[str] = (), edges: list[str] = (),  # type: ignore[assignment]
               entry: str | None = None, routes: list[str] = (), name: str | None = None,  # type: ignore[assignment]
               toxiproxy_port: int | None = None, proxy_base: int | None = None) -> Starter:
    """`base` (or an empty starter) with the flags' services (NAME=PORT),
    edges (CALLER->CALLEE), entry, routes (NAME=/PATH), name and ports added.
    ConfigError naming the flag for anything it cannot use."""
    start = base or Starter()
    known = dict(start.services)
    for item in services:
        svc, sep, port = item.partition("=")
        if not sep:
            raise ConfigError(None, None, "--service", f"expected NAME=PORT, e.g. front=18001, got '{item}'")
        known[_name(svc.strip(), "--service")] = _port(port, "--service")
    pairs = list(start.edges)
    for item in edges:
        caller, sep, callee = item.partition("->")
        caller, callee = caller.strip(), callee.strip()
        if not sep or not caller or not callee:
            raise ConfigError(None, None, "--edge", f"expected CALLER->CALLEE, e.g. front->stock, got '{item}'")
        for svc in (caller, callee):
            if svc not in known:
                raise ConfigError(None, None, "--edge", f"'{item}' names '{svc}', which is no service (known: {', '.join(known) or 'none'})")
        if caller == callee:
            raise ConfigError(None, None, "--edge", f"'{item}': a service calling itself needs no proxy")
        if (caller, callee) not in pairs:
            pairs.append((caller, callee))
    paths = dict(start.routes)
    for item in routes:
        route, sep, path = item.partition("=")
        if not sep or not path.startswith("/"):
            raise ConfigError(None, None, "--route", f"expected NAME=/PATH, e.g. page=/page, got '{item}'")
        paths[_name(route.strip(), "--route")] = path.strip()
    if not known:
        raise ConfigError(None, None, "--service", "no services: give --service NAME=PORT (one per service) or --compose FILE")
    entry = entry if entry is not None else start.entry
    if entry is not None and entry not in known:
        raise ConfigError(None, None, "--entry", f"'{entry}' is no service (known: {', '.join(known)})")
    if not pairs:
        raise ConfigError(None, None, "--edge", "no edges: give --edge CALLER->CALLEE for at least one call between services "
                                                "(or depends_on in the compose file); the first scenario kills its callee")
    tp = _port(toxiproxy_port, "--toxiproxy-port") if toxiproxy_port is not None else start.toxiproxy_port
    if tp in known.values():
        raise ConfigError(None, None, "--toxiproxy-port", f"{tp} is a service's port")
    base_port = _port(proxy_base, "--proxy-base") if proxy_base is not None else start.proxy_base
    result = replace(start, name=_name(name, "--name") if name is not None else start.name, services=known,
                     edges=tuple(pairs), entry=entry, routes=paths, toxiproxy_port=tp, proxy_base=base_port)
    result.proxy_ports()  # refuse a base with no room now
    return result


def from_compose(path: Path) -> Starter:
    """A starter from a compose file: each service that publishes a port is a
    service (its container port is its local port), each `depends_on` an edge
    (caller -> callee) between two of them. ConfigError naming the file and
    field when it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(path, None, "--compose", "no such file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(path, mark.line + 1 if mark else None, None, f"invalid YAML: {getattr(e, 'problem', e)}") from None
    compose = (data or {}).get("services") if isinstance(data, dict) else None
    if not isinstance(compose, dict) or not compose:
        raise ConfigError(path, None, "services", "a compose file needs a services: mapping")
    services: dict[str, int] = {}
    for raw_name, spec in compose.items():
        port = _container_port(path, raw_name, (spec or {}).get("ports") if isinstance(spec, dict) else None)
        if port is not None:
            services[as_name(raw_name)] = port
    if not services:
        raise ConfigError(path, None, "services", "no service publishes a port (ports:), so none can be reached; "
                                                  "give them with --service NAME=PORT")
    edges = []
    for raw_name, spec in compose.items():
        caller = as_name(raw_name)
        needs = (spec or {}).get("depends_on") if isinstance(spec, dict) else None
        for callee in (list(needs) if isinstance(needs, (list, dict)) else []):
            callee = as_name(str(callee))
            if caller in services and callee in services and (caller, callee) not in edges:
                edges.append((caller, callee))
    name = as_name(str(data.get("name") or path.resolve().parent.name or "system"))
    return Starter(name=name, services=services, edges=tuple(edges))


def as_name(raw: str) -> str:
    """A system-file name for `raw` (a compose name, a folder's): lower case,
    other characters as -, starting with a letter."""
    name = re.sub(r"[^a-z0-9_-]", "-", str(raw).lower()).strip("-_") or "service"
    return name if name[0].isalpha() else f"s-{name}"[:40]


def _container_port(path: Path, service: str, ports: Any) -> int | None:
    """The container port of a service's first published port, or None."""
    for entry in ports if isinstance(ports, list) else []:
        if isinstance(entry, dict):
            target = entry.get("target")
        else:
            target = str(entry).rsplit(":", 1)[-1].split("/")[0].split("-")[0]
        if target is not None:
            return _port(target, f"services.{service}.ports")
    return None


def _q(value: str) -> str:
    """A YAML scalar for `value` (JSON strings are YAML)."""
    return json.dumps(value)


def render(start: Starter) -> dict[str, str]:
    """The starter's files by path relative to the folder: the system file,
    the proxy list and the first scenario, <callee>-down.yaml."""
    entry = start.entrypoint
    ports = start.proxy_ports()
    callers = {caller for caller, _ in start.edges}
    tp = start.toxiproxy_port
    lines = [
        "# The system under test, as the chaos toolkit sees it. Written by `chaos init`:",
        "# edit the lines marked EDIT, then check it with",
        "#   chaos --system system.yaml validate",
        "# Every field and placeholder: docs/system-file.md. The guide: docs/own-services.md.",
        f"name: {start.name}",
        "",
        "toxiproxy:",
        f"  url: http://127.0.0.1:{tp}",
        "  # toxiproxy-server is found on $TOXIPROXY_SERVER, PATH, .tools/bin beside this",
        "  # file or the toolkit, or the folder `chaos setup` builds it into.",
        f'  command: [toxiproxy-server, -host, 127.0.0.1, -port, "{tp}", -config, {PROXIES_FILE}]',
        f"  proxies: {PROXIES_FILE}",
        "",
        "services:",
    ]
    for svc, port in start.services.items():
        lines += [
            f"  {svc}:",
            "    # EDIT: how to start it. {python} is the toolkit's interpreter, {root} this",
            "    # file's folder; from the service's own virtual environment:",
            f'    #   command: ["{{root}}/.venv/bin/python", -m, gunicorn, -b, "127.0.0.1:{port}", "app:app"]',
            "    # One gunicorn worker: a breaker lives in one process's memory.",
            f'    command: ["{{python}}", -m, gunicorn, -b, "127.0.0.1:{port}", -w, "1", --threads, "8", "app:app"]',
            "    cwd: .          # EDIT: the service's folder, relative to this file",
            f"    port: {port}",
            "    # health: /health    # answers 200 once it is ready (the default)",
        ]
        if svc == entry or svc in callers:
            lines += [
                "    # The chaos agent shows the toolkit its breakers and marks fallback answers.",
                "    # Install it in the app: pip install 'flask-chaos[agent]', then two lines:",
                "    #   agent = ChaosAgent(app)      # from chaos.agent import ChaosAgent",
                "    #   agent.watch(breaker)         # each pybreaker / circuitbreaker breaker",
                "    agent: /_chaos",
            ]
    lines += [
        "",
        "# One Toxiproxy proxy per call between services: the caller must call the",
        "# proxy's listen address instead of the callee (e.g. STOCK_URL in its env).",
        "edges:",
    ]
    for (caller, callee), listen in zip(start.edges, ports):
        lines += [
            f"  # {caller} calls {callee} at http://127.0.0.1:{listen}; its breaker is named {_q(callee)} (else set breaker:)",
            "  # EDIT read_timeout: match the caller's read timeout for this call.",
            f"  - {{from: {caller}, to: {callee}, proxy: {caller}_{callee}, read_timeout: 1.0}}",
        ]
    needs = start.reachable(entry)
    routes = dict(start.routes) or {"home": "/"}
    lines += [
        "",
        "# Load goes to the entrypoint's routes. calls: every service a route needs",
        "# besides the entrypoint; a route that needs none lets containment judge.",
        f"entrypoint: {entry}",
        "routes:",
    ]
    for route, path in routes.items():
        lines += [f"  {route}:", f"    path: {_q(path)}",
                  f"    calls: [{', '.join(needs)}]   # EDIT: only what this route needs"]
    if "/health" not in routes.values() and "health" not in routes:
        lines += ["  health:", '    path: "/health"', "    calls: []   # needs nobody: what containment compares"]
    system = "\n".join(lines) + "\n"

    proxies = json.dumps([
        {"name": f"{caller}_{callee}", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{start.services[callee]}", "enabled": True}
        for (caller, callee), listen in zip(start.edges, ports)
    ], indent=2) + "\n"

    caller, callee = start.edges[0]
    scenario_name = f"{callee}-down"[:40]
    scenario = "\n".join([
        f"name: {scenario_name}",
        "description: >",
        f"  {callee} is killed under load and started again ten seconds later.",
        f"  {caller}'s breaker for {callee} must open at once, answer what needs",
        f"  {callee} fast with its fallback, leave the other routes alone, and",
        "  close again through half-open once it is back.",
        "duration: 30s",
        "load:",
        "  rate: 20         # requests per second to the entrypoint; mix: {route: weight}",
        "faults:",
        "  - kind: kill",
        f"    service: {callee}",
        "    at: 8s",
        "    duration: 10s",
        "checks:",
        "  - kind: breaker_opens",
        f"    breaker: {caller}->{callee}",
        "    within: 3s",
        "  - kind: fails_fast",
        f"    breaker: {caller}->{callee}",
        "  - kind: containment",
        "  - kind: breaker_recovers",
        f"    breaker: {caller}->{callee}",
    ]) + "\n"
    return {SYSTEM_FILE: system, PROXIES_FILE: proxies, f"{SCENARIOS_DIR}/{scenario_name}.yaml": scenario}


def write(start: Starter, folder: Path, force: bool = False) -> list[Path]:
    """Write the starter's files into `folder` and return their paths.
    ConfigError naming every file that exists already, unless `force`. The
    files are loaded back (system file and scenario) before returning."""
    from chaos.spec import load_system
    from chaos.spec.scenario import load_scenario

    files = {folder / rel: text for rel, text in render(start).items()}
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise ConfigError(None, None, None, f"will not overwrite {', '.join(existing)}: give --force to replace "
                                            f"{'it' if len(existing) == 1 else 'them'}")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    system = load_system(folder / SYSTEM_FILE)
    for path in files:
        if path.parent.name == SCENARIOS_DIR:
            load_scenario(path, system)
    return list(files)
