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

Where the runtime gives its units' process groups (the local runtime: each
unit leads its own), each sample also says what the system itself got: the
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


def group_threads(groups: set[int], proc: Path = Path("/proc")) -> dict[int, tuple[int, int]]:
    """{tid: (ns on a CPU, ns runnable and waiting for one)} of every thread of
    every process in the process groups `groups`. A process or thread that
    ends while it is read is left out."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = (proc / entry.name / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) not in groups:  # field 5, pgrp
                continue
            for task in os.scandir(proc / entry.name / "task"):
                run, wait, _ = (proc / entry.name / "task" / task.name / "schedstat").read_text().split()
                found[int(task.name)] = (int(run), int(wait))
        except (OSError, ValueError, IndexError):
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
    started; `groups` gives the system's units' process groups (None or an
    empty list: no figures of the system's own)."""

    def __init__(self, history: Any, every: float = EVERY, root: Path = ROOT,
                 groups: Callable[[], list[int]] | None = None) -> None:
        self.history = history
        self.every = every
        self.root = root
        self.groups = groups
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start sampling; False when there is nothing to sample: no pressure
        figures from the kernel, and no units' figures (no process groups
        given, or no schedstat: a kernel without CONFIG_SCHED_INFO)."""
        if stalled_us(self.root / "cpu") is None and not (self.groups and schedstat_readable()):
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
            groups = set(self.groups() if self.groups else [])
        except Exception:  # noqa: BLE001 - a runtime that cannot tell gives no figures
            return None
        return group_threads(groups) if groups else None

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
            if span > 0 and (share(cpu, cpu2) is not None or run is not None):
                self.history.append(Pressure(time.time(), round(span, 3), share(cpu, cpu2), share(io, io2), run, wait))
            cpu, io, then, threads, read = cpu2, io2, now, threads2, read2
