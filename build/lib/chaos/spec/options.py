"""How a run was asked for: the conditions it runs under, beside its scenario."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOptions:
    """The switches a user sets for a run (CLI flags, make variables)."""

    breakers: str = "on"  # "on" or "off": the agent's breakers-off switch
    runtime: str = "local"  # "local" or "docker"
