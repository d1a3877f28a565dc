"""Reading time windows and figures out of a history; shared by the checks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from chaos.history import BreakerInfo, FaultEvent, History, Request, Transition


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    label: str = ""
    targets: frozenset[str] = frozenset()

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)


def run_end(history: History) -> float:
    """When load stopped (or the last event, for a history cut short)."""
    mark = history.mark("load-stop") or history.mark("run-end")
    if mark:
        return mark.at
    return max((getattr(e, "at", getattr(e, "t_end", 0.0)) for e in history), default=0.0)


def load_start(history: History) -> float:
    mark = history.mark("load-start")
    if mark:
        return mark.at
    return min((r.t_start for r in history.of(Request)), default=0.0)


def fault_windows(history: History, touching: frozenset[str] | None = None) -> list[Window]:
    """The windows in which faults were active, optionally only those whose
    targets include one of `touching`; an unended fault lasts to the run's end."""
    open_: dict[int, FaultEvent] = {}
    out = []
    for e in sorted(history.of(FaultEvent), key=lambda e: e.at):
        if e.phase == "start":
            open_[e.index] = e
        elif e.phase == "end" and e.index in open_:
            start = open_.pop(e.index)
            out.append(Window(start.at, e.at, start.description, frozenset(start.targets)))
    out.extend(Window(s.at, run_end(history), s.description, frozenset(s.targets)) for s in open_.values())
    if touching is not None:
        out = [w for w in out if w.targets & touching]
    return sorted(out, key=lambda w: w.start)


def state_windows(history: History, breaker: str, state: str) -> list[Window]:
    """The windows in which `breaker` was in `state`, from its transitions."""
    transitions = sorted((t for t in history.of(Transition) if t.breaker == breaker), key=lambda t: t.at)
    out = []
    opened: float | None = None
    for t in transitions:
        if t.new == state and opened is None:
            opened = t.at
        elif t.new != state and opened is not None:
            out.append(Window(opened, t.at, state))
            opened = None
    if opened is not None:
        out.append(Window(opened, run_end(history), state))
    return out


def breaker_info(history: History, breaker: str) -> BreakerInfo | None:
    infos = [i for i in history.of(BreakerInfo) if i.breaker == breaker]
    return infos[-1] if infos else None


def requests_in(history: History, routes: Iterable[str], windows: Iterable[Window]) -> list[Request]:
    """Requests on `routes` that started inside any of `windows`."""
    routes = set(routes)
    windows = list(windows)
    return [r for r in history.of(Request) if r.route in routes and any(w.holds(r.t_start) for w in windows)]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def success_rate(requests: list[Request]) -> float:
    return sum(r.ok for r in requests) / len(requests) if requests else math.nan


def ms(seconds: float) -> str:
    """0.0123 -> '12 ms'; 1.5 -> '1500 ms'."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.0f} ms"
