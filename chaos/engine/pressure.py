"""How starved the machine was while the load ran, from the kernel's
pressure stall information (/proc/pressure/cpu and io, Linux 4.20+).

A run on a busy machine can be slow for the machine's sake: the soak's
false alarms were queues that built while a CPU hog and the shop together
asked more than two cores. The run records, once a second, the share of
that second in which some runnable task waited for a CPU (and for IO), as
`Pressure` events in its history; verdicts.json and the report show them
beside the verdicts. Evidence only: no verdict depends on the pressure.

The files are read directly: a line `some avg10=.. avg60=.. avg300=..
total=<microseconds>` each, nothing a library would add to. No file (another
kernel, PSI switched off, as RHEL 8 ships it): no machine figures (`cpu` and
`io` are None), and the report says so; the units' figures below come from
another file and are sampled all the same.

Where the runtime gives its units' root processes (the local runtime: each
unit's process group leader; the Docker runtime: each container's main
process, when this machine's /proc shows it), each sample also says what the system itself got: the
CPU its units' threads ran (`units_cpu`, cores) and how long they waited,
runnable, for one (`units_wait`, thread-seconds a second), from each
thread's /proc/PID/task/TID/schedstat. Their ratio is the system's own
stretch: a second of CPU work that waited 3 s for a CPU took 4 s. PSI says
the machine was busy; this says how much the system under test paid for
it, and containment and steady_state weigh a latency fail by it
(chaos.checks._machine). psutil reads neither (it has no schedstat), so they
are read here too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVERY = 1.0  # seconds between samples
ROOT = Path("/proc/pressure")


def stalled_us(path: Path) -> int | None:
    """The `some` line's total: microseconds in which some task was stalled."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("some "):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def unit_threads(roots: set[int], proc: Path = Path("/proc")) -> dict[int, tuple[int, int]]:
    """{tid: (ns on a CPU, ns runnable and waiting for one)} of every thread of
    every process that is one of `roots`, descends from one, or is in the
    process group one leads (a unit's processes: the local runtime's group
    leaders, a container's main process). A process or thread that ends
    while it is read is left out."""
    procs: dict[int, tuple[int, int]] = {}  # pid: (parent, process group)
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            fields = (proc / entry.name / "stat").read_text().rsplit(")", 1)[1].split()
            procs[int(entry.name)] = (int(fields[1]), int(fields[2]))  # fields 4 and 5: ppid, pgrp
        except (OSError, ValueError, IndexError):
            continue
    member: dict[int, bool] = {}

    def belongs(pid: int) -> bool:
        chain: list[int] = []
        while pid not in member:
            chain.append(pid)
            if pid in roots or (pid in procs and procs[pid][1] in roots):
                found = True
                break
            if pid not in procs or procs[pid][0] <= 0:
                found = False
                break
            pid = procs[pid][0]
        else:
            found = member[pid]
        for p in chain:
            member[p] = found
        return found

    found: dict[int, tuple[int, int]] = {}
    for pid in procs:
        if not belongs(pid):
            continue
        try:
            for task in os.scandir(proc / str(pid) / "task"):
                run, wait, _ = (proc / str(pid) / "task" / task.name / "schedstat").read_text().split()
                found[int(task.name)] = (int(run), int(wait))
        except (OSError, ValueError):
            continue
    return found


def schedstat_readable(proc: Path = Path("/proc")) -> bool:
    """Whether this kernel gives threads' schedstat (CONFIG_SCHED_INFO)."""
    try:
        return len((proc / "self" / "schedstat").read_text().split()) == 3
    except OSError:
        return False


def _spent(before: dict[int, tuple[int, int]], now: dict[int, tuple[int, int]]) -> tuple[float, float]:
    """Seconds on a CPU and waiting for one between two readings; a thread
    new since the first counts from its start."""
    run = wait = 0
    for tid, (r, w) in now.items():
        r0, w0 = before.get(tid, (0, 0))
        if r >= r0 and w >= w0:  # else a new thread under a reused tid: from its start
            run, wait = run + r - r0, wait + w - w0
        else:
            run, wait = run + r, wait + w
    return run / 1e9, wait / 1e9


class PressureSampler:
    """Appends a Pressure event to `history` every `every` seconds while
    started; `roots` gives the pids of the system's units' root processes
    (unit_threads; None or an empty list: no figures of the system's own)."""

    def __init__(self, history: Any, every: float = EVERY, root: Path = ROOT,
                 roots: Callable[[], list[int]] | None = None) -> None:
        self.history = history
        self.every = every
        self.root = root
        self.roots = roots
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start sampling; False when there is nothing to sample: no pressure
        figures from the kernel, and no units' figures (no roots given, or
        no schedstat: a kernel without CONFIG_SCHED_INFO)."""
        if stalled_us(self.root / "cpu") is None and not (self.roots and schedstat_readable()):
            return False
        self._thread = threading.Thread(target=self._run, name="pressure", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _threads(self) -> dict[int, tuple[int, int]] | None:
        try:
            roots = set(self.roots() if self.roots else [])
        except Exception:  # noqa: BLE001 - a runtime that cannot tell gives no figures
            return None
        return unit_threads(roots) if roots else None

    def _run(self) -> None:
        from chaos.history import Pressure

        cpu, io, then = stalled_us(self.root / "cpu"), stalled_us(self.root / "io"), time.monotonic()
        threads, read = self._threads(), time.monotonic()  # a slow /proc scan must not skew the span
        while not self._stop.wait(self.every):
            cpu2, io2, now = stalled_us(self.root / "cpu"), stalled_us(self.root / "io"), time.monotonic()
            threads2, read2 = self._threads(), time.monotonic()
            span = now - then
            share = lambda a, b: (None if a is None or b is None  # noqa: E731
                                  else round(min(1.0, max(0.0, (b - a) / 1e6 / span)), 3))
            run = wait = None
            if threads is not None and threads2 is not None and read2 > read:
                ran, waited = _spent(threads, threads2)
                run, wait = round(ran / (read2 - read), 3), round(waited / (read2 - read), 3)
            stalled = share(cpu, cpu2) if span > 0 else None
            if span > 0 and (stalled is not None or run is not None):
                self.history.append(Pressure(time.time(), round(span, 3), stalled, share(io, io2), run, wait))
            cpu, io, then, threads, read = cpu2, io2, now, threads2, read2
