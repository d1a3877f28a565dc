"""Where the system under test runs: one protocol, one backend per platform.

A runtime starts Toxiproxy and the services, and kills, pauses, resumes and
restarts them. It acts only on what it started (local processes it recorded)
or what carries its labels (containers), never on anything else.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Protocol, runtime_checkable

from chaos.spec.system import System

TOXIPROXY = "toxiproxy"
RUNTIMES = ("local", "docker")


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


def make_runtime(kind: str, system: System, state_dir: Path, env: dict[str, str] | None = None) -> Runtime:
    """The runtime backend called `kind` ("local" or "docker")."""
    if kind == "local":
        from chaos.runtime.local import LocalRuntime

        return LocalRuntime(system, state_dir, env or {})
    if kind == "docker":
        from chaos.runtime.docker import DockerRuntime

        return DockerRuntime(system, state_dir, env or {})
    raise ValueError(f"unknown runtime '{kind}' (known: {', '.join(RUNTIMES)})")
