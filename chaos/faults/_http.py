"""What the http_* faults share: they set an assault on one service through
its agent (chaos.agent's assaults endpoint), and take it off again on revert.

The service must declare its agent (`agent: /_chaos` in the system file); a
scenario naming a service without one is refused before anything starts.
Control requests carry the run's agent token, so they work on every runtime
(on Docker they arrive through the port proxy, not from loopback). A service
holds one assault at a time: a second http fault on the same service replaces
the first, and reverting the first then leaves the second alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import Field, field_validator

from chaos.clients.agent import AgentClient, Agents, ContractError
from chaos.errors import SetupError
from chaos.faults import FaultContext, Handle, ServiceFault
from chaos.spec.system import System


class HttpAssault(ServiceFault):
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
        if not problems and system.services[self.service].agent is None:
            problems.append((
                ("service",),
                f"service '{self.service}' declares no agent: HTTP faults are set through it; install chaos.agent "
                f"in the service and add `agent: /_chaos` to it in {system.path.name} (see docs/agent.md)",
            ))
        return problems

    def apply(self, ctx: FaultContext) -> Handle:
        """Set the assault through the service's agent. SetupError if it
        cannot be reached or refuses the assault."""
        client = ctx.agents.client(self.service)
        body = {**self.assault(), "share": self.share, **({"path": self.path} if self.path else {})}
        try:
            state = client.set_assault(body)
        except requests.RequestException as exc:
            raise SetupError(f"cannot set the assault on {self.service} at {client.url}/assaults: {exc}") from None
        return AssaultHandle(self.service, client, state["since"])


@dataclass
class AssaultHandle:
    """Takes off the assault that apply set, if it is still the active one."""

    service: str
    client: AgentClient
    since: float

    def revert(self) -> str:
        """Stop the assault; a note says how many requests it hit. A service
        that refuses connections lost its assault with its process: nothing to
        do. SetupError if the service does not answer in time (frozen)."""
        try:
            if self.client.assault()["since"] != self.since:
                return f"the assault on {self.service} was already gone or replaced; left as is"
            stopped = self.client.stop_assault()["stopped"]
        except requests.Timeout as exc:
            raise SetupError(f"cannot stop the assault on {self.service}: {exc}") from None
        except requests.ConnectionError:
            return f"{self.service} refused the connection: its assault ended with its process"
        return f"stopped the assault on {self.service}: {stopped['injected']} of {stopped['matched']} matching requests hit"


def stop_assaults(agents: Agents) -> list[str]:
    """Stop every active assault on the services that declare an agent,
    whoever set it (an interrupted run leaves its assault on; it lives in the
    service's memory). Returns the services that had one. An agent that is
    not there (404: switched off) has none to stop. SetupError if a running
    service's agent cannot be read."""
    def one(name: str) -> bool:
        client = agents.client(name)
        try:
            return stop_assault(client)
        finally:
            client.close()

    return [name for name, had in agents.ask_each(one).items() if had]


def stop_assault(client: AgentClient) -> bool:
    """Stop the assault active on `client`'s service, if any; whether there
    was one (see stop_assaults)."""
    try:
        if client.assault()["active"]:
            client.stop_assault()
            return True
        return False
    except ContractError as exc:
        if exc.status == 404:
            return False
        raise
    except requests.RequestException as exc:
        raise SetupError(f"cannot read the assaults of {client.service} at {client.url}/assaults: {exc}") from None
