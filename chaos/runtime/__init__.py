"""Where the system under test runs: one protocol, one backend per platform.

A runtime starts Toxiproxy and the services, and kills, pauses, resumes and
restarts them. It acts only on what it started (local processes it recorded)
or what carries its labels (containers), never on anything else.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Protocol, runtime_checkable

from chaos.errors import ConfigError
from chaos.spec.system import System

TOXIPROXY = "toxiproxy"
RUNTIMES = ("local", "docker", "swarm")


class Status(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Runtime(Protocol):
    """What faults and the runner may ask of a platform. Every method acts on
    one unit: "toxiproxy" or a service of the system file."""

    # The token given to the agents this runtime starts (CHAOS_AGENT_TOKEN);
    # control requests carry it (see chaos.clients.agent).
    agent_token: str

    def up(self) -> list[str]:
        """Start every unit that is not running and wait until all are ready;
        returns the names of the units it started."""

    def down(self) -> list[str]:
        """Stop every unit this runtime started; returns their names."""

    def start(self, name: str) -> None:
        """Start a stopped unit and wait until it is ready."""

    def stop(self, name: str) -> None:
        """Stop a unit gracefully (SIGTERM, then SIGKILL after a grace period)."""

    def kill(self, name: str) -> None:
        """Kill a unit at once (SIGKILL); returns when it is gone."""

    def pause(self, name: str) -> None:
        """Freeze a unit (SIGSTOP): its sockets stay open, nothing answers."""

    def resume(self, name: str) -> None:
        """Thaw a paused unit (SIGCONT)."""

    def restart(self, name: str) -> None:
        """Kill and start again, waiting until ready."""

    def status(self, name: str) -> Status:
        """Whether the unit runs, is paused, or is gone."""

    def logs(self, name: str) -> Path | None:
        """Where the unit's output goes, when it is a file."""

    def identity(self, name: str) -> str | None:
        """Who runs the unit now (a process, a container): a value that changes
        whenever the unit is started again; None while it is not running."""


@runtime_checkable
class Partitionable(Protocol):
    """An optional ability: cutting a unit off the network the others reach
    it through, while it keeps running. Faults check for it with isinstance."""

    def disconnect(self, name: str) -> None:
        """Take the unit off the system's network; it keeps running."""

    def reconnect(self, name: str) -> None:
        """Put it back, reachable under the same names as before."""


@runtime_checkable
class Replicated(Protocol):
    """An optional ability: a unit runs as several replicas (tasks) that a
    scheduler replaces when they die. Replica-level faults check for it."""

    def desired(self, name: str) -> int:
        """How many replicas the unit runs when healthy."""

    def kill_replicas(self, name: str, count: int) -> list[str]:
        """SIGKILL `count` running replicas; the scheduler replaces them. Their ids."""

    def pause_replicas(self, name: str, count: int) -> list[str]:
        """Freeze `count` running replicas; their ids, for resume_replicas."""

    def resume_replicas(self, name: str, ids: list[str]) -> None:
        """Thaw the given replicas."""

    def wait_replicas(self, name: str, timeout: float = 90.0) -> float:
        """Wait until every replica runs and is ready; the seconds waited."""

    def rolling_restart(self, name: str) -> None:
        """Start replacing the replicas one by one; returns at once."""

    def wait_update(self, name: str, timeout: float = 180.0) -> float:
        """Wait until the rolling restart is done; how long it took."""

    def watch_replicas(self, history):  # type: ignore[no-untyped-def]
        """A started watcher recording replica state changes into `history`; it has stop()."""


def make_runtime(kind: str, system: System, state_dir: Path, env: dict[str, str] | None = None) -> Runtime:
    """The runtime backend called `kind` ("local", "docker" or "swarm")."""
    if kind == "local":
        from chaos.runtime.local import LocalRuntime

        return LocalRuntime(system, state_dir, env or {})
    if kind == "docker":
        from chaos.runtime.docker import DockerRuntime

        return DockerRuntime(system, state_dir, env or {})
    if kind == "swarm":
        from chaos.runtime.swarm import SwarmRuntime

        return SwarmRuntime(system, state_dir, env or {})
    raise ValueError(f"unknown runtime '{kind}' (known: {', '.join(RUNTIMES)})")


def runtime_for(system: System, kind: str, breakers: str = "on", state_dir: Path | None = None) -> Runtime:
    """The runtime a run uses: backend `kind`, every service started with its
    breakers `breakers` ("on" or "off"), state in `state_dir` (default: .chaos
    beside the system file). ConfigError for a bad switch, or for breakers
    off on a system that could not honour it."""
    if breakers not in ("on", "off"):
        raise ConfigError(None, None, "BREAKERS", f"must be on or off, not '{breakers}'")
    if breakers == "off":
        refuse_breakers_off_without_agents(system)
    if state_dir is None:  # a run on moved ports (chaos.spec.ports) keeps its own records
        state_dir = system.root / ".chaos" / (f"offset-{system.port_offset}" if system.port_offset else "")
    return make_runtime(kind, system, state_dir, {"CHAOS_BREAKERS": breakers})


def refuse_breakers_off_without_agents(system: System) -> None:
    """ConfigError naming the services that hold breakers but no agent.
    Breakers are switched off by each service's agent: a service holding
    breakers without one would keep them on, and the run would prove nothing."""
    without = [name for name in system.breaker_owners() if system.services[name].agent is None]
    if without:
        raise ConfigError(system.path, None, "--breakers",
                          f"off needs the agent (which switches breakers off) in every service that holds breakers; "
                          f"{', '.join(without)} declare{'s' if len(without) == 1 else ''} no agent: "
                          f"install chaos.agent there and add `agent: /_chaos` (see docs/agent.md)")
