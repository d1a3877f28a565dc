"""What the report and the live view show, read out of a history: plain data.

Every time here is in seconds from the start of load, the one axis the
report's plots share. Nothing here draws; `chaos.report.figure` turns a
`Timeline` into a plot and `chaos.ui.live` reads the current breaker states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.history.queries import fault_windows, load_start, percentile
from chaos.history import BreakerInfo, FaultEvent, History, Mark, Request, Transition, WorkerViews

BREAKER_STATES = ("closed", "half-open", "open", "disabled")


@dataclass(frozen=True)
class Point:
    """One request: when it was sent, how long it took and how it ended."""

    t: float
    latency_ms: float
    route: str
    outcome: str  # "ok" (a full answer), "fallback" (a breaker's answer) or "error"
    label: str  # the status code, or what went wrong when no answer came


@dataclass(frozen=True)
class Bin:
    """The requests sent in [start, start + width)."""

    start: float
    width: float
    sent: int
    ok: int
    fallback: int

    @property
    def errors(self) -> int:
        return self.sent - self.ok - self.fallback


@dataclass(frozen=True)
class Band:
    """A breaker stayed in one state from `start` to `end`."""

    breaker: str
    state: str
    start: float
    end: float


@dataclass(frozen=True)
class Change:
    """A breaker transition, so one that lasted a millisecond still shows."""

    t: float
    breaker: str
    old: str
    new: str


@dataclass(frozen=True)
class Span:
    """A fault was active from `start` to `end`."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class RouteSummary:
    route: str
    sent: int
    ok: int
    fallback: int
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Timeline:
    t0: float  # wall-clock time of the start of load
    end: float  # the last second worth showing
    points: list[Point]
    bins: list[Bin]
    bands: list[Band]
    faults: list[Span]
    routes: list[str]  # in the order they first appear
    changes: list[Change]

    def summary(self) -> list[RouteSummary]:
        """Counts and latency percentiles per route, over the whole run."""
        out = []
        for route in self.routes:
            mine = [p for p in self.points if p.route == route]
            latencies = [p.latency_ms for p in mine]
            out.append(RouteSummary(
                route, len(mine), sum(p.outcome == "ok" for p in mine), sum(p.outcome == "fallback" for p in mine),
                sum(p.outcome == "error" for p in mine), percentile(latencies, 50), percentile(latencies, 99),
            ))
        return out


def outcome(r: Request) -> str:
    """"ok" for a full answer, "fallback" when a breaker's fallback answered, else "error"."""
    if r.ok:
        return "ok"
    return "fallback" if r.fallback is not None else "error"


def timeline(history: History, bin_width: float = 1.0) -> Timeline:
    """Everything the report plots, on one axis of seconds from the start of load."""
    t0 = load_start(history)
    requests = sorted(history.of(Request), key=lambda r: r.t_start)
    points = [
        Point(r.t_start - t0, r.latency * 1000, r.route, outcome(r), str(r.status) if r.status is not None else (r.error or "no answer"))
        for r in requests
    ]
    end = _end(history, t0)
    faults = [Span(w.start - t0, w.end - t0, w.label) for w in fault_windows(history)]
    routes = list(dict.fromkeys(r.route for r in requests))
    changes = [Change(t.at - t0, t.breaker, t.old, t.new) for t in sorted(history.of(Transition), key=lambda t: t.at) if 0 <= t.at - t0 <= end]
    return Timeline(t0, end, points, _bins(points, end, bin_width), breaker_bands(history, t0, end), faults, routes, changes)


def _end(history: History, t0: float) -> float:
    """Load's end, stretched to include a fault's end or a breaker's recovery
    that came later (both are part of the story)."""
    stop = history.mark("load-stop") or history.mark("run-end")
    run_end = history.mark("run-end")
    last = stop.at if stop else max((r.t_end for r in history.of(Request)), default=t0)
    limit = run_end.at if run_end else math.inf
    for e in [*history.of(Transition), *history.of(FaultEvent)]:
        if e.at <= limit:
            last = max(last, e.at)
    return max(last - t0, 0.0)


def _bins(points: list[Point], end: float, width: float) -> list[Bin]:
    n = max(1, math.ceil(end / width))
    counts = [[0, 0, 0] for _ in range(n)]
    for p in points:
        i = int(p.t // width)
        if 0 <= i < n:
            counts[i][0] += 1
            counts[i][1] += p.outcome == "ok"
            counts[i][2] += p.outcome == "fallback"
    return [Bin(i * width, width, *c) for i, c in enumerate(counts)]


def breaker_bands(history: History, t0: float, end: float) -> list[Band]:
    """Each breaker's states as consecutive bands clipped to [0, end]. A
    breaker's first sighting (or a fresh one after its service restarted)
    sets its state; each transition changes it. A breaker of which several
    workers hold a copy has one band per worker, "edge (worker pid)"."""
    changes: dict[str, list[tuple[float, str]]] = {}
    # A breaker held by several workers (gunicorn -w 4, memory storage) gets
    # a band per worker, each starting from that worker's first view.
    pids: dict[str, set[int]] = {}
    first_view: dict[tuple[str, int], tuple[float, str]] = {}
    for v in history.of(WorkerViews):
        for breaker, pid, state in v.views:
            pids.setdefault(breaker, set()).add(pid)
            first_view.setdefault((breaker, pid), (v.at - t0, state))
    for t in history.of(Transition):
        if t.worker is not None:
            pids.setdefault(t.breaker, set()).add(t.worker)
    several = {b for b, found in pids.items() if len(found) > 1}
    for (breaker, pid), step in first_view.items():
        if breaker in several:
            changes.setdefault(f"{breaker} (worker {pid})", []).append(step)
    for e in history:
        if isinstance(e, BreakerInfo) and e.breaker not in several:
            changes.setdefault(e.breaker, []).append((e.at - t0, e.state if e.enabled else "disabled"))
        elif isinstance(e, Transition):
            key = f"{e.breaker} (worker {e.worker})" if e.breaker in several else e.breaker
            changes.setdefault(key, []).append((e.at - t0, e.new))
    bands = []
    for breaker in sorted(changes):
        steps = sorted(changes[breaker], key=lambda s: s[0])
        for (at, state), nxt in zip(steps, [*steps[1:], (end, "")]):
            start, stop = max(at, 0.0), min(nxt[0], end)
            if stop <= start:
                continue
            if bands and bands[-1].breaker == breaker and bands[-1].state == state and math.isclose(bands[-1].end, start):
                bands[-1] = Band(breaker, state, bands[-1].start, stop)  # a restart that found it as it was
            else:
                bands.append(Band(breaker, state, start, stop))
    return bands


def current_states(history: History, now: float) -> dict[str, tuple[str, float]]:
    """Each breaker's state at wall-clock time `now` and since when (wall clock)."""
    out: dict[str, tuple[str, float]] = {}
    for e in sorted((e for e in history if isinstance(e, (BreakerInfo, Transition))), key=lambda e: e.at):
        if e.at > now:
            break
        state = (e.state if e.enabled else "disabled") if isinstance(e, BreakerInfo) else e.new
        if out.get(e.breaker, ("", 0.0))[0] != state:
            out[e.breaker] = (state, e.at)
    return out


def marks(history: History) -> dict[str, float]:
    """The run's milestones in seconds from the start of load."""
    t0 = load_start(history)
    return {m.name: m.at - t0 for m in history.of(Mark)}
