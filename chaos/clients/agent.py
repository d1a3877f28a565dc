"""The engine's one client for the agent's contract (chaos.agent, docs/agent.md).

Every reply is checked against the contract's JSON Schema before anything
reads it (chaos/contract/v1/*.schema.json), so a service that answers
something else gives one clear error: the URL, the HTTP status, what is
wrong, and where the service's log is, instead of a KeyError or "Expecting
value: line 1 column 1" from deep inside the watcher.

The engine never imports the agent (which needs Flask); both read the same
schema files.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import requests

from chaos.clients.http import Session
from chaos.errors import SetupError
from chaos.spec.system import System

T = TypeVar("T")

# (connect, read): the agent answers at once unless the service is frozen.
TIMEOUT = (1.0, 5.0)
TOKEN_FILE = "agent-token"


class ContractError(SetupError):
    """A service's agent could not be reached, refused, or answered outside the contract."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@cache
def _validator(name: str) -> Any:
    # jsonschema-rs, not jsonschema: a run checks the agents' replies before
    # its load starts, and importing jsonschema (attrs, referencing, its
    # metaschemas) took 80-100 ms of that set-up's CPU, jsonschema-rs 25 ms
    # (its four validators 1 ms). Same draft, same messages. The schemas are
    # the toolkit's own files, checked by tests/agent/test_agent.py.
    import jsonschema_rs

    from chaos.contract import schema

    return jsonschema_rs.Draft202012Validator(schema(name))


def contract_problem(name: str, body: Any) -> str | None:
    """Why `body` is not a valid `name` reply of the contract, or None if it is."""
    error = next(iter(sorted(_validator(name).iter_errors(body), key=lambda e: list(map(str, e.instance_path)))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.instance_path) or "the body"
    return f"{where}: {error.message[:200]}"


class AgentClient:
    """Talks to one service's agent at `url` (its base URL plus the agent's prefix)."""

    def __init__(self, service: str, url: str, token: str | None = None, log: Path | None = None,
                 session: requests.Session | None = None):
        self.service = service
        self.url = url.rstrip("/")
        self.token = token
        self.log = log
        self.session = session or Session()
        # Straight to the service: an HTTP_PROXY in the environment would
        # make the agent see a stranger and refuse control requests.
        self.session.trust_env = False
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def index(self, timeout: Any = TIMEOUT) -> dict[str, Any]:
        """The agent's self-description: contract version, service, boot id, switch, endpoints."""
        return self._call("GET", "", "index", timeout=timeout)

    def breakers(self, timeout: Any = TIMEOUT) -> dict[str, Any]:
        """Every watched breaker's state, settings and counters."""
        return self._call("GET", "/breakers", "breakers", timeout=timeout)

    def transitions(self, after: int, wait: float, timeout: Any = TIMEOUT) -> dict[str, Any]:
        """Transitions with seq > `after`, waiting up to `wait` s for one (a long poll)."""
        return self._call("GET", "/breakers/transitions", "transitions", params={"after": after, "wait": wait}, timeout=timeout)

    def assault(self) -> dict[str, Any]:
        """The active HTTP assault and its counters."""
        return self._call("GET", "/assaults", "assaults")

    def set_assault(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start an HTTP assault; ContractError (with its status) if the agent refuses it."""
        return self._call("PUT", "/assaults", "assaults", json=dict(body))

    def stop_assault(self) -> dict[str, Any]:
        """Stop the active assault; the answer holds the stopped one's counters under "stopped"."""
        return self._call("DELETE", "/assaults", "assaults")

    def _call(self, method: str, path: str, schema: str, **kwargs: Any) -> dict[str, Any]:
        url = self.url + path
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, url, **kwargs)  # RequestException is the caller's to judge
        if response.status_code != 200:
            detail = _error_text(response)
            hint = ""
            if response.status_code == 404:
                hint = " (is the agent installed and switched on, CHAOS_AGENT=on?)"
            elif response.status_code == 403:
                hint = " (control needs a loopback caller or the agent token)"
            raise ContractError(f"{self.service}'s agent answered {method} {url} with HTTP {response.status_code}{hint}: "
                                f"{detail}{self._log_hint()}", response.status_code)
        try:
            body = response.json()
        except ValueError:
            raise ContractError(f"{self.service}'s agent answered {method} {url} with HTTP 200 but not JSON: "
                                f"{response.text[:120]!r}{self._log_hint()}", 200) from None
        problem = contract_problem(schema, body)
        if problem:
            raise ContractError(f"{self.service}'s agent answered {method} {url} outside the contract "
                                f"({schema}.schema.json): {problem}{self._log_hint()}", 200)
        return body

    def _log_hint(self) -> str:
        return f"; see {self.log}" if self.log else ""


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])[:200]
    except ValueError:
        pass
    text = response.text
    # An app without the agent answers its framework's HTML error page: its title says it all.
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title or "<html" in text[:200].lower():
        return (title.group(1).strip() if title else "") or response.reason or "an HTML page"
    return text[:120].strip() or response.reason or ""


class Agents:
    """The agents of a system's services, for the runner, the watcher and restore."""

    def __init__(self, system: System, token: str | None = None, logs: Callable[[str], Path | None] | None = None):
        self.system = system
        self.token = token
        self.logs = logs or (lambda name: None)

    def has(self, service: str) -> bool:
        return self.system.services[service].agent is not None

    def services(self) -> list[str]:
        """The services that declare an agent."""
        return [n for n, s in self.system.services.items() if s.agent is not None]

    def ask_each(self, ask: Callable[[str], T]) -> dict[str, T]:
        """`ask(service)` for every service with an agent, all at once (each
        answer is a round trip to another process); the first exception raised
        is raised here."""
        names = self.services()
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            return dict(zip(names, pool.map(ask, names)))

    def client(self, service: str, session: requests.Session | None = None) -> AgentClient:
        """A client for `service`'s agent; SetupError if it declares none."""
        url = self.system.services[service].agent_url
        if url is None:
            raise SetupError(f"service '{service}' declares no agent in {self.system.path.name}")
        try:
            log = self.logs(service)
        except Exception:  # noqa: BLE001 - a log path only makes messages better
            log = None
        return AgentClient(service, url, self.token, log, session)


def agent_env(service: str, spec: Any, token: str) -> dict[str, str]:
    """What a runtime puts in the environment of a service that declares an
    agent: switched on, under its prefix, named, with the run's token."""
    if spec.agent is None:
        return {}
    return {"CHAOS_AGENT": "on", "CHAOS_AGENT_PREFIX": spec.agent.rstrip("/") or "/", "CHAOS_SERVICE": service,
            "CHAOS_AGENT_TOKEN": token}


def agent_token(state_dir: Path) -> str:
    """The token this toolkit's runs give the agents they start (CHAOS_AGENT_TOKEN)
    and send with control requests: $CHAOS_AGENT_TOKEN if set, else a random
    one kept in STATE/agent-token (readable by its owner only)."""
    given = os.environ.get("CHAOS_AGENT_TOKEN")
    if given:
        return given
    path = state_dir / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it a moment ago: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token
