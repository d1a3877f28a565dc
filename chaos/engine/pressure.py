"""How starved the machine was while the load ran, from the kernel's
pressure stall information (/proc/pressure/cpu and io, Linux 4.20+).

A run on a busy machine can be slow for the machine's sake: the soak's
false alarms were queues that built while a CPU hog and the shop together
asked more than two cores. The run records, once a second, the share of
that second in which some runnable task waited for a CPU (and for IO), as
`Pressure` events in its history; verdicts.json and the report show them
beside the verdicts. Evidence only: no verdict depends on them.

The files are read directly: a line `some avg10=.. avg60=.. avg300=..
total=<microseconds>` each, nothing a library would add to. No file (another
kernel, PSI switched off): no events, and the run says "unknown".
"""

from __future__ import annotations

import threading
import time
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


class PressureSampler:
    """Appends a Pressure event to `history` every `every` seconds while started."""

    def __init__(self, history: Any, every: float = EVERY, root: Path = ROOT) -> None:
        self.history = history
        self.every = every
        self.root = root
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start sampling; False when the kernel gives no pressure figures."""
        if stalled_us(self.root / "cpu") is None:
            return False
        self._thread = threading.Thread(target=self._run, name="pressure", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        from chaos.history import Pressure

        cpu, io, then = stalled_us(self.root / "cpu"), stalled_us(self.root / "io"), time.monotonic()
        while not self._stop.wait(self.every):
            cpu2, io2, now = stalled_us(self.root / "cpu"), stalled_us(self.root / "io"), time.monotonic()
            if cpu is not None and cpu2 is not None and now > then:
                span = now - then
                share = lambda a, b: min(1.0, max(0.0, (b - a) / 1e6 / span))  # noqa: E731
                self.history.append(Pressure(time.time(), round(span, 3), round(share(cpu, cpu2), 3),
                                             round(share(io, io2), 3) if io is not None and io2 is not None else None))
            cpu, io, then = cpu2, io2, now
