"""Processes we started, told apart from any other process with the same pid.

A pid alone is not an identity: after a reboot, or a long time, another
program may have it. We record the pid with the kernel's start time of the
process (/proc/PID/stat field 22); a process is ours only while both match,
and we signal only process groups whose leader is ours.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Record:
    """What we know of a process group we started."""

    name: str
    pid: int
    start_ticks: int
    command: list[str]
    log: str
    fingerprint: str  # of its command and environment: a change means restart

    def to_json(self) -> dict:
        return asdict(self)


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])


def state_letter(pid: int) -> str | None:
    """R, S, T (stopped), Z (zombie), ... or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rindex(")") + 2]


def is_ours(record: Record) -> bool:
    """True while the recorded process exists, is the one we started, and is not a zombie."""
    return start_ticks(record.pid) == record.start_ticks and state_letter(record.pid) not in (None, "Z")


def signal_group(record: Record, sig: signal.Signals) -> bool:
    """Send `sig` to the record's process group if the leader is still ours.
    Returns False when there was nothing of ours to signal."""
    if not is_ours(record):
        return False
    try:
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) == pgid and state_letter(int(entry)) not in (None, "Z"):
                return True
        except (ProcessLookupError, PermissionError):
            continue
    return False


def wait_gone(record: Record, timeout: float) -> bool:
    """Wait until no process of the record's group is left; True if they are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not group_alive(record.pid):
            return True
        time.sleep(0.02)
    return not group_alive(record.pid)


def _reap(pid: int) -> None:
    """Collect the group leader if it is our exited child, so it does not
    linger as a zombie. Only that pid: other children are not ours to reap."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by an earlier run), or already reaped
