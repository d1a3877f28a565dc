"""The processes of a multi-process server, as the agent tells them apart:
a pid with its kernel start time, the workers of a gunicorn master, and
the shared directories that earlier masters left behind.

Standard library only, as the rest of the agent. (chaos.runtime.process
reads start times too: the agent cannot import the engine.)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def start_ticks(pid: int) -> int | None:
    """The process's kernel start time (/proc/PID/stat field 22), or None when
    unknown (no /proc) or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def alive(pid: int, ticks: int | None) -> bool:
    """Whether `pid` runs and is the process that had start time `ticks` (when known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    return ticks is None or start_ticks(pid) in (None, ticks)


def children(pid: int) -> list[int] | None:
    """The pids whose parent is `pid` (a gunicorn master's workers), from
    /proc; None where there is no /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gunicorn_master() -> int | None:
    """The master's pid when this process is a gunicorn worker, else None.

    gunicorn's master puts SERVER_SOFTWARE=gunicorn/... in the environment
    its workers inherit; with --preload the app is imported in the master
    too, which is told apart by its parent not being gunicorn."""
    if not os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/"):
        return None
    parent = os.getppid()
    if "gunicorn" not in _cmdline(parent) and os.path.exists("/proc"):
        return None
    return parent


def sweep(tmp: Path, keep: Path) -> None:
    """Remove the directories earlier masters left under `tmp` (their master
    is gone), so a machine that starts services all day does not fill up."""
    for stale in tmp.glob("chaos-agent-*-*"):
        if stale == keep or not (stale / "owner").is_file():
            continue
        try:
            pid, ticks = (stale / "owner").read_text().split()
            if not alive(int(pid), None if ticks == "None" else int(ticks)):
                shutil.rmtree(stale, ignore_errors=True)
        except (OSError, ValueError):
            continue  # being made or removed by someone else right now


def in_gunicorn_worker() -> bool:
    """Whether this process is a gunicorn worker (so it should publish from the start)."""
    return "gunicorn" in sys.modules and gunicorn_master() is not None
