"""What the http_* faults share: they set an assault on one service through
the control endpoint of `chaos.assaults`, and take it off again on revert.

The service must run with CHAOS_ASSAULTS on and declare the endpoint's path
as `assaults:` in the system file; a scenario naming a service without it is
refused before anything starts. A service holds one assault at a time: a
second http fault on the same service replaces the first, and reverting the
first then leaves the second alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from pydantic import Field, field_validator

from chaos.errors import SetupError
from chaos.faults import FaultContext, Handle, ServiceFault
from chaos.spec.system import System

# (connect, read): the endpoint answers at once unless the service is frozen.
TIMEOUT = (1.0, 5.0)


class HttpAssault(ServiceFault):
    # The control endpoint answers loopback callers only; in a container the
    # toolkit's requests arrive through Docker's port proxy, not loopback.
    runtimes: ClassVar[frozenset[str] | None] = frozenset({"local"})
    """Base of http_error, http_exception and http_latency."""

    share: float = Field(default=1.0, ge=0, le=1, description="share of the matching requests that are assaulted")
    path: str | None = Field(
        default=None, min_length=1, max_length=256,
        description="regex matched at the start of the request path; default: every path but /health and /breakers",
    )

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def assault(self) -> dict[str, Any]:
        """The kind-specific part of the assault: {"kind": ..., ...}."""
        raise NotImplementedError

    def requests_phrase(self) -> str:
        """'90% of requests on paths matching ^/orders', for describe()."""
        where = f" on paths matching {self.path}" if self.path else ""
        return f"{self.share * 100:g}% of requests{where}"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        problems = super().check_refs(system)
        if not problems and system.services[self.service].assaults is None:
            problems.append((
                ("service",),
                f"service '{self.service}' has no assaults endpoint: add `assaults: /_chaos/assaults` to it in "
                f"{system.path.name} and run it with CHAOS_ASSAULTS=on (see chaos.assaults)",
            ))
        return problems

    def apply(self, ctx: FaultContext) -> Handle:
        """PUT the assault to the service's control endpoint. SetupError if it
        cannot be reached or refuses the assault."""
        url = control_url(ctx.system, self.service)
        body = {**self.assault(), "share": self.share, **({"path": self.path} if self.path else {})}
        try:
            with _session() as session:
                response = session.put(url, json=body, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise SetupError(f"cannot set the assault on {self.service} at {url}: {exc}") from None
        if response.status_code == 404:
            raise SetupError(f"{self.service} has no assaults endpoint at {url}: is it running with CHAOS_ASSAULTS=on?")
        if response.status_code != 200:
            raise SetupError(f"{self.service} refused the assault ({response.status_code} at {url}): {response.text[:300]}")
        return AssaultHandle(self.service, url, response.json()["since"])


@dataclass
class AssaultHandle:
    """Takes off the assault that apply set, if it is still the active one."""

    service: str
    url: str
    since: float

    def revert(self) -> str:
        """DELETE the assault; a note says how many requests it hit. A service
        that refuses connections lost its assault with its process: nothing to
        do. SetupError if the service does not answer in time (frozen)."""
        try:
            with _session() as session:
                state = session.get(self.url, timeout=TIMEOUT).json()
                if state["since"] != self.since:
                    return f"the assault on {self.service} was already gone or replaced; left as is"
                stopped = session.delete(self.url, timeout=TIMEOUT).json()["stopped"]
        except requests.Timeout as exc:
            raise SetupError(f"cannot stop the assault on {self.service}: {exc}") from None
        except requests.ConnectionError:
            return f"{self.service} refused the connection: its assault ended with its process"
        return f"stopped the assault on {self.service}: {stopped['injected']} of {stopped['matched']} matching requests hit"


def control_url(system: System, service: str) -> str:
    """The URL of `service`'s assaults control endpoint (it must declare one)."""
    spec = system.services[service]
    if spec.assaults is None:  # check_refs refuses such scenarios; this is for direct callers
        raise SetupError(f"service '{service}' declares no assaults endpoint in {system.path.name}")
    return spec.base_url + spec.assaults


def _session() -> requests.Session:
    session = requests.Session()
    # Straight to the service on loopback: an HTTP_PROXY in the environment
    # would make the endpoint see a non-loopback caller and refuse.
    session.trust_env = False
    return session


def stop_assaults(system: System) -> list[str]:
    """Stop every active assault on the services that declare an assaults
    endpoint, whoever set it (an interrupted run leaves its assault on; it
    lives in the service's memory). Returns the services that had one. A
    service without the endpoint (404) has none to stop. SetupError if a
    running service's endpoint cannot be read."""
    stopped = []
    with _session() as session:
        for name, spec in system.services.items():
            if spec.assaults is None:
                continue
            url = spec.base_url + spec.assaults
            try:
                state = session.get(url, timeout=TIMEOUT)
                if state.status_code == 404:
                    continue  # the extension is not installed here (e.g. in containers): no assault can be on
                state.raise_for_status()
                if state.json()["active"]:
                    session.delete(url, timeout=TIMEOUT).raise_for_status()
                    stopped.append(name)
            except (requests.RequestException, ValueError, KeyError) as exc:
                raise SetupError(f"cannot read the assaults of {name} at {url}: {exc}") from None
    return stopped
