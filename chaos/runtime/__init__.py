"""Where the system under test runs: one protocol, one backend per platform.

A runtime starts Toxiproxy and the services, and kills, pauses, resumes and
restarts them. It acts only on what it started (local processes it recorded)
or what carries its labels (containers), never on anything else.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Protocol

from chaos.system import System

TOXIPROXY = "toxiproxy"


class Status(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Runtime(Protocol):
    """What faults and the runner may ask of a platform. Every method acts on
    one unit: "toxiproxy" or a service of the system file."""

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


def make_runtime(kind: str, system: System, state_dir: Path, env: dict[str, str] | None = None) -> Runtime:
    """The runtime backend called `kind` ("local")."""
    if kind == "local":
        from chaos.runtime.local import LocalRuntime

        return LocalRuntime(system, state_dir, env or {})
    raise ValueError(f"unknown runtime '{kind}' (known: local)")
