"""Bringing a system back to a clean state, whatever an earlier run left.

Clean means: every unit running and not paused, every proxy of the system
enabled with no toxics, no HTTP assault active in any service, and
(optionally) every breaker closed. It needs no
journal of what an interrupted run did: the system file names every proxy
and unit that is ours, so restoring all of them covers any fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from chaos.clients.agent import AgentClient, Agents, ContractError
from chaos.errors import SetupError
from chaos.faults._http import stop_assault
from chaos.runtime import TOXIPROXY, Runtime, Status
from chaos.spec.system import System
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError


@dataclass
class Restored:
    """What restoring had to do."""

    started: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    toxics_removed: int = 0
    assaults_stopped: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    restarted_for_breakers: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.started:
            out.append(f"started {', '.join(self.started)}")
        if self.resumed:
            out.append(f"resumed {', '.join(self.resumed)} (paused by an earlier run)")
        if self.enabled:
            out.append(f"enabled proxies {', '.join(self.enabled)} (disabled by an earlier run)")
        if self.toxics_removed:
            out.append(f"removed {self.toxics_removed} toxics left by an earlier run")
        if self.assaults_stopped:
            out.append(f"stopped the assaults left on {', '.join(self.assaults_stopped)}")
        if self.restarted_for_breakers:
            out.append(f"restarted {', '.join(self.restarted_for_breakers)} to close breakers left open")
        return out


def restore(system: System, runtime: Runtime, toxiproxy: Toxiproxy, breakers: bool = True,
            say: Callable[[str], None] = lambda s: None) -> Restored:
    """Make the system clean; with `breakers`, also restart any service whose
    breakers are not closed (breakers live in their service's memory, so a
    restart is the one sure way to close them). Breakers and assaults are
    read through each service's agent; a service whose agent is not there
    (switched off: 404) has none to see. SetupError if it cannot."""
    agents = Agents(system, runtime.agent_token, runtime.logs)
    done = Restored()
    done.resumed = [u for u in [TOXIPROXY, *system.services] if runtime.status(u) is Status.PAUSED]  # up() thaws them
    done.started = runtime.up()
    try:
        done.toxics_removed, done.enabled = toxiproxy.clean_all(list(system.proxies))
    except ToxiproxyError as e:
        raise SetupError(str(e)) from None

    def clean(name: str) -> tuple[bool, list[str]]:
        """One round of asking per agent, on one connection: its assault
        stopped (whether there was one), then its breakers not closed."""
        client = agents.client(name)
        try:
            return stop_assault(client), _not_closed(client) if breakers else []
        finally:
            client.close()

    for name, (had_assault, stuck) in agents.ask_each(clean).items():
        if had_assault:
            done.assaults_stopped.append(name)
        if stuck:
            say(f"restarting {name}: breakers {', '.join(stuck)} not closed")
            runtime.restart(name)
            done.restarted_for_breakers.append(name)
    return done


def _not_closed(client: AgentClient) -> list[str]:
    try:
        body = client.breakers()
    except ContractError as e:
        if e.status == 404:
            return []  # no agent answering there: no breaker of it can be seen (checks will say so)
        raise
    except requests.RequestException as e:
        raise SetupError(f"cannot read the breakers of {client.service} at {client.url}/breakers: {e}") from None
    # Every worker's copy counts: under gunicorn -w 4 the one that answered
    # may be closed while another's is still open.
    views = [w["breakers"] for w in body.get("workers") or []] or [body["breakers"]]
    return sorted({b["name"] for breakers in views for b in breakers if b["state"] not in ("closed", "disabled")})
