"""The system under test, as its system file describes it.

The toolkit knows a system only through this file (services, how each starts,
its port and health URL, the edges between services and the Toxiproxy proxy
each goes through, the routes load is sent to). Loading checks the file
against the proxy list so the two cannot drift apart silently.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field

from chaos.errors import ConfigError
from chaos.spec.model import Model, Seconds, model_vocabulary
from chaos.spec.source import Source, load_yaml, validate

NAME = r"^[a-z][a-z0-9_-]{0,39}$"


class ToxiproxySpec(Model):
    url: str = "http://127.0.0.1:8474"
    command: list[str] = Field(min_length=1)
    proxies: str = Field(description="path of the proxy list, relative to the system file")
    env: dict[str, str] = Field(
        default={},
        description="environment of the Toxiproxy the local runtime starts, over its default LOG_LEVEL=error",
    )


class FallbackSpec(Model):
    """How to tell a fallback answer from a full one, for an app whose answers
    the agent does not mark (its fallback is a JSON 503, a status, a field).
    Any rule that matches makes the answer a fallback."""

    header: str | None = Field(default=None, description="a response header present on fallback answers; its value names the fallback")
    reason_header: str | None = Field(default=None, description="a response header giving the fallback's reason")
    status: list[int] = Field(default=[], description="status codes that are fallback answers, e.g. [503]")
    json_field: str | None = Field(default=None, alias="json", pattern=r"^[A-Za-z_][\w.-]*$", max_length=64,
                                   description="a top-level JSON field that is true (or a non-empty text) on a fallback answer")

    @pydantic.field_validator("status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for code in value:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code")
        return value

    @pydantic.model_validator(mode="after")
    def _some_rule(self) -> "FallbackSpec":
        if self.header is None and not self.status and self.json_field is None:
            raise ValueError("give at least one of header, status or json")
        return self

    def match(self, status: int, headers: Mapping[str, str], body: Callable[[], Any]) -> tuple[str | None, str | None]:
        """(what the fallback is called, its reason) when an answer with this
        status, headers (case-insensitive) and JSON body (`body()`, called only
        for a json rule; it may raise ValueError) is a fallback by this rule;
        (None, None) for a full answer. The name is the header's value, else
        the JSON field's text, else e.g. "status 503" or "degraded"."""
        reason = headers.get(self.reason_header) if self.reason_header else None
        if self.header and headers.get(self.header):
            return headers[self.header], reason
        if status in self.status:
            return f"status {status}", reason
        if self.json_field is not None:
            try:
                parsed = body()
            except ValueError:
                parsed = None
            value = parsed.get(self.json_field) if isinstance(parsed, dict) else None
            if value is True or (isinstance(value, str) and value):
                return (value if isinstance(value, str) else self.json_field), reason
        return None, None


# What the agent's mark_fallback (and its automatic marking) sets.
AGENT_FALLBACK = FallbackSpec(header="X-Fallback", reason_header="X-Fallback-Reason")

RETIRED_SERVICE_FIELDS = {
    "breakers": "replaced by `agent: /_chaos`: the service installs the agent (chaos.agent, see docs/agent.md)",
    "assaults": "replaced by `agent: /_chaos`: the HTTP assaults are the agent's (see docs/agent.md)",
}


def _module_names(value: list[str] | None) -> list[str] | None:
    for name in value or []:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", name):
            raise ValueError(f"{name!r} is not a module name (like flask or gunicorn.app.wsgiapp)")
    return value


class ServiceSpec(Model):
    command: list[str] = Field(min_length=1)
    cwd: str = "."
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    env: dict[str, str] = {}
    health: str = Field(
        default="/health", pattern=r"^(/.*|tcp)$",
        description="a path that answers 200 once the service is ready, or `tcp` for a unit with no HTTP health "
        "(a database, a broker): ready once its port accepts a connection",
    )
    ports: dict[str, int] = Field(
        default={}, description="other ports the unit listens on, by name (e.g. smtp: 5122): a proxy may forward to "
        "them, and a port offset moves them with the rest",
    )
    agent: str | None = Field(
        default=None, pattern=r"^/[\w./-]*$",
        description="where the service serves the agent's endpoints (chaos.agent), e.g. /_chaos; unset: no agent",
    )
    fallback: FallbackSpec | None = Field(default=None, description="how its answers mark a fallback, if not the agent's way")
    start_timeout: Seconds = 20.0
    preload: list[str] | None = Field(
        default=None, description="the local runtime's preload for this service instead of local.preload "
                                  "(its own libraries: a Celery worker's are not a web app's); [] starts it unforked")

    _modules = pydantic.field_validator("preload")(_module_names)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, why in RETIRED_SERVICE_FIELDS.items():
                if name in data:
                    raise ValueError(f"{name}: is {why}")
        return data

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str | None:
        """The URL that answers 200 once the service is ready; None for `health: tcp`."""
        return None if self.health == "tcp" else self.base_url + self.health

    @property
    def agent_url(self) -> str | None:
        """The agent's base URL, or None when the service declares no agent."""
        return None if self.agent is None else self.base_url + self.agent.rstrip("/")


class EdgeSpec(Model):
    source: str = Field(alias="from", pattern=NAME)
    target: str = Field(alias="to", pattern=NAME)
    proxy: str
    breaker: str | None = None
    read_timeout: Seconds
    background: bool = Field(
        default=False, description="calls on this edge are made off the request path (an outbox relay, a worker): "
        "no answer waits for them, so a caller's timeout budget leaves them out",
    )

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"

    @property
    def breaker_name(self) -> str:
        """The breaker's name inside the calling service."""
        return self.breaker or self.target


class WriteSpec(Model):
    id: str = Field(description="field of the response body that identifies the write")
    read: str = Field(description="path that reads the write back, with {id}")
    match: list[str] = Field(default=[], description="fields that must read back as sent")
    key: str | None = Field(default=None, description="field of the request body the service deduplicates on (idempotency key)")


class PromiseSpec(Model):
    """A message an acknowledged request on the route promises (an e-mail
    sent later, off the request path), and where it can be seen arriving."""

    message: str = Field(pattern=r"^[\w.-]+$", max_length=64, description="what the sink lists the message as, e.g. welcome")
    key: str = Field(description="field of the request body that keys the message: the sink lists it as the message's key; "
                     "it must be the route's write key")
    sink: str = Field(pattern=NAME, description="the unit that lists what arrived at GET /messages (docs/system-file.md)")


class RouteSpec(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(pattern=r"^/")
    json_body: Any = Field(default=None, alias="json")
    calls: list[str] = Field(default=[], description="every service the route needs besides the entrypoint")
    write: WriteSpec | None = None
    promises: PromiseSpec | None = Field(default=None, description="a message each acknowledged request promises (deliveries check)")
    fallback: FallbackSpec | None = Field(default=None, description="how this route's answers mark a fallback (default: the entrypoint's)")
    expect: list[int] | None = Field(
        default=None, min_length=1,
        description="the statuses this route is meant to answer, e.g. [404] for a route that asks for what does not "
        "exist; checks of success rates count those as success (default: any 2xx/3xx full answer)",
    )


class VariableSpec(Model):
    range: tuple[int, int] | None = None
    choice: list[str | int] | None = None

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> "VariableSpec":
        if (self.range is None) == (self.choice is None):
            raise ValueError("give exactly one of range: [low, high] or choice: [...]")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError("range low must not exceed high")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        return self


class DockerSpec(Model):
    """Where the system runs as containers (the Docker runtime)."""

    compose: str = Field(default="compose.yaml", description="the compose file, relative to the system file")
    project: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="the compose project name")
    network: str = Field(default="default", description="the compose network every unit is on")
    proxies: str = Field(description="the proxy list Toxiproxy loads inside that network")


class SwarmSpec(Model):
    """How the system runs as a Docker Swarm stack (the swarm runtime), built
    on the docker: section: the stack is derived from its compose file."""

    stack: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$", description="the stack's name (with a port offset: NAME-OFFSET)")
    replicas: dict[str, int] = Field(default={}, description="service -> replicas (1 when not named); REPLICAS=N overrides every count here")


class LocalSpec(Model):
    """How the local runtime starts the system's processes (docs/system-file.md)."""

    preload: list[str] = Field(
        default=[],
        description="modules imported once, by one interpreter that then forks every `{python} -m ...` service: "
                    "each starts without importing them again",
    )

    _modules = pydantic.field_validator("preload")(_module_names)


class ExploreSpec(Model):
    """How `chaos explore` compresses time on this system (docs/explore.md)."""

    env: dict[str, str] = Field(
        default={},
        description="environment set on every service that holds a breaker while explore runs its examples, and "
        "written into each scenario it finds: settings the agent reports back, e.g. a short breaker reset timeout",
    )


class SystemSpec(Model):
    name: str = Field(pattern=NAME)
    toxiproxy: ToxiproxySpec
    services: dict[str, ServiceSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = []
    entrypoint: str
    routes: dict[str, RouteSpec] = Field(min_length=1)
    variables: dict[str, VariableSpec] = {}
    scenarios: str = "scenarios"
    docker: DockerSpec | None = None
    swarm: SwarmSpec | None = None
    explore: ExploreSpec = ExploreSpec()
    local: LocalSpec = LocalSpec()


class Proxy(Model):
    name: str
    listen: str
    upstream: str
    enabled: bool = True


class System:
    """A loaded, cross-checked system file."""

    def __init__(self, spec: SystemSpec, path: Path, proxies: list[Proxy]):
        self.spec = spec
        self.path = path
        self.root = path.parent
        self.proxies = {p.name: p for p in proxies}
        # The proxies as Toxiproxy has them inside the Docker network (docker: section).
        self.docker_proxies: dict[str, Proxy] = {}
        # How far this run moved every fixed port (chaos.spec.ports); 0: as written.
        self.port_offset = 0
        # The parsed file with the line of every value, for warnings that
        # point at a line (chaos.spec.budget); None for a system built in code.
        self.source: Source | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def services(self) -> dict[str, ServiceSpec]:
        return self.spec.services

    @property
    def routes(self) -> dict[str, RouteSpec]:
        return self.spec.routes

    @property
    def scenarios_dir(self) -> Path:
        return self.root / self.spec.scenarios

    @cached_property
    def edges(self) -> dict[str, EdgeSpec]:
        """Edges by name, e.g. 'gateway->orders'."""
        return {e.name: e for e in self.spec.edges}

    @property
    def breakers(self) -> dict[str, EdgeSpec]:
        """Every breaker by its id, which is its edge's name."""
        return self.edges

    @property
    def entrypoint(self) -> ServiceSpec:
        return self.spec.services[self.spec.entrypoint]

    def depends_on(self, route: str) -> frozenset[str]:
        """Every service a route needs: the entrypoint and what the route
        lists under `calls` (direct or not: only the route knows which paths
        through the system it takes)."""
        return frozenset({self.spec.entrypoint, *self.spec.routes[route].calls})

    def routes_depending_on(self, services: frozenset[str]) -> list[str]:
        return [r for r in self.routes if self.depends_on(r) & services]

    def routes_independent_of(self, services: frozenset[str]) -> list[str]:
        return [r for r in self.routes if not self.depends_on(r) & services]

    def edge_read_timeout(self, breaker: str) -> float:
        return self.edges[breaker].read_timeout

    def answered_as_meant(self, request: Any) -> bool:
        """Whether a recorded request got the answer its route is meant to give:
        one of the route's `expect` statuses, else a full 2xx/3xx answer."""
        spec = self.spec.routes.get(request.route)
        if spec is not None and spec.expect is not None:
            return request.status in spec.expect
        return request.ok

    def fallback_rule(self, route: str) -> FallbackSpec:
        """How an answer on `route` shows it is a fallback: the route's rule,
        else the entrypoint's, else the agent's headers."""
        return self.spec.routes[route].fallback or self.entrypoint.fallback or AGENT_FALLBACK

    def fallback_visible(self, route: str) -> bool:
        """Whether a fallback answer on `route` can be told from a full one:
        the entrypoint marks them through its agent, or a rule says how."""
        return self.entrypoint.agent is not None or self.spec.routes[route].fallback is not None or self.entrypoint.fallback is not None

    def breaker_owners(self) -> dict[str, list[str]]:
        """Every service that holds breakers (calls another through an edge), with those breakers' ids."""
        owners: dict[str, list[str]] = {}
        for edge in self.spec.edges:
            owners.setdefault(edge.source, []).append(edge.name)
        return owners


SYSTEM_VOCABULARY = model_vocabulary(SystemSpec)


def cross_check(system: System, source: Source) -> None:
    """ConfigError on the first way the system file disagrees with itself or its proxy list."""
    spec = system.spec
    services = spec.services
    if spec.entrypoint not in services:
        raise source.error(("entrypoint",), f"unknown service '{spec.entrypoint}'")
    for i, edge in enumerate(spec.edges):
        for field, name in (("from", edge.source), ("to", edge.target)):
            if name not in services:
                raise source.error(("edges", i, field), f"unknown service '{name}' (known: {', '.join(services)})")
        proxy = system.proxies.get(edge.proxy)
        if proxy is None:
            raise source.error(("edges", i, "proxy"), f"no proxy '{edge.proxy}' in {spec.toxiproxy.proxies}")
        target = services[edge.target]
        if not any(same_address(proxy.upstream, target.host, port) for port in (target.port, *target.ports.values())):
            raise source.error(
                ("edges", i, "proxy"),
                f"proxy '{proxy.name}' forwards to {proxy.upstream}, but {edge.target} listens on {target.host}:{target.port}"
                + "".join(f" and {p} ({n})" for n, p in target.ports.items()),
            )
    for name, route in spec.routes.items():
        for j, called in enumerate(route.calls):
            if called not in services:
                raise source.error(("routes", name, "calls", j), f"unknown service '{called}'")
        promise = route.promises
        if promise is not None:
            if promise.sink not in services:
                raise source.error(("routes", name, "promises", "sink"), f"unknown service '{promise.sink}' (known: {', '.join(services)})")
            if route.write is None or route.write.key != promise.key:
                raise source.error(("routes", name, "promises", "key"),
                                   f"'{promise.key}' must also be the route's write key (write: {{key: {promise.key}, ...}}): "
                                   "the load generator records it for each acknowledged write")
        for var in re.findall(r"{(\w+)}", route.path + json.dumps(route.json_body)):
            if var not in spec.variables and var != "uuid":
                raise source.error(("routes", name), f"uses variable '{{{var}}}' that is not under variables:")


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def same_address(upstream: str, host: str, port: int) -> bool:
    """Whether a proxy's upstream `host:port` reaches a service listening on
    `host`:`port`, by meaning rather than spelling: localhost is 127.0.0.1,
    and a service listening on every interface (0.0.0.0, ::) is reached on
    loopback. Names other than localhost compare as written (no DNS here)."""
    up_host, _, up_port = upstream.rpartition(":")
    if not up_port.isdigit() or int(up_port) != port:
        return False
    a, b = _address(up_host), _address(host)
    if a == b:
        return True
    if isinstance(b, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and b.is_unspecified:
        return isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and a.is_loopback
    return False


def _address(host: str) -> object:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return ipaddress.ip_address("127.0.0.1")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    # Every 127.x and ::1 is this machine's loopback: one address for this purpose.
    return ipaddress.ip_address("127.0.0.1") if ip.is_loopback else ip
