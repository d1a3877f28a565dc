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

from chaos.launcher import describe_status  # the standard library only: it also runs as a script


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


def started_at(pid: int) -> float | None:
    """When the process started, in seconds since the epoch (the boot time in
    /proc/stat plus its start ticks), or None if there is no such process."""
    ticks = start_ticks(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def state_letter(pid: int) -> str | None:
    """R, S, T (stopped), Z (zombie), ... or None for no such process.

    A multi-threaded process whose main thread has exited shows Z while its
    other threads still run (and still hold its sockets): so the process is
    a zombie only when every thread is, and otherwise takes the letter of a
    live thread."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    letters = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                stat = f.read().decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        letters.append(stat[stat.rindex(")") + 2])
    live = [x for x in letters if x not in ("Z", "X")]
    if not letters:
        return None
    if not live:
        return "Z"
    return "T" if all(x in ("T", "t") for x in live) else live[0]


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
    return bool(group_members(pgid))


def wait_gone(record: Record, timeout: float) -> bool:
    """Wait until no process of the record's group is left; True if they are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        how_it_ended(record.pid)  # collects the leader, if it is our exited child
        if not group_alive(record.pid):
            how_it_ended(record.pid)
            return True
        time.sleep(0.02)
    return not group_alive(record.pid)


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) == pgid and state_letter(int(entry)) not in (None, "Z"):
                members.append(int(entry))
        except (ProcessLookupError, PermissionError):
            continue
    return members


def wait_state(record: Record, stopped: bool, timeout: float) -> bool:
    """Wait until every process of the group is stopped (SIGSTOP took hold)
    or none is (SIGCONT did); signals are delivered asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        letters = [state_letter(pid) for pid in group_members(record.pid)]
        if letters and all((letter in ("T", "t")) == stopped for letter in letters):
            return True
        time.sleep(0.01)
    return False


def how_it_ended(pid: int) -> str | None:
    """Collect our exited child `pid`, so it does not linger as a zombie, and
    say how it ended ("exit code 1", "killed by SIGKILL"); None if it is not
    our child (a launcher forked it, or an earlier run started it), still
    runs, or was collected already. Only that pid: other children are not
    ours to reap."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        return None
    return describe_status(status)
