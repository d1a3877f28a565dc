"""Reading per-worker breakers out of a history.

Under a multi-process server (gunicorn -w 4) each worker has its own copy
of a breaker unless they share its state (pybreaker's Redis storage). The
agent reports every worker's view (`WorkerViews`) and tags each transition
with its worker's pid; these queries say, for one breaker around one fault,
which workers there were, which were never seen, and when they disagreed
(one open, another closed). A history from an agent that did not report
workers has no WorkerViews and untagged transitions: `breaker_workers`
returns None and the checks judge the one breaker they saw, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.history import History, Transition, WorkerViews
from chaos.history.queries import Window


@dataclass(frozen=True)
class Workers:
    """The workers that held a copy of one breaker during one window."""

    pids: tuple[int, ...]  # every worker that counts: live at the window's start, or seen acting in it
    unseen: tuple[int, ...]  # live (as the agent said) but never showed its view of the breaker
    initial: dict[int, str]  # pid -> the breaker's state in that worker when last viewed before the window

    @property
    def many(self) -> bool:
        return len(self.pids) > 1


def _moves(history: History, breaker: str) -> list[Transition]:
    return sorted((t for t in history.of(Transition) if t.breaker == breaker), key=lambda t: t.at)


def breaker_workers(history: History, service: str, breaker: str, window: Window) -> Workers | None:
    """The workers of `service` that held `breaker` during `window`, or None
    when the history has no per-worker evidence (an older agent)."""
    views = sorted((v for v in history.of(WorkerViews) if v.service == service), key=lambda v: v.at)
    moves = _moves(history, breaker)
    if not views and not any(t.worker is not None for t in moves):
        return None
    before = [v for v in views if v.at <= window.start]
    ref = before[-1] if before else (views[0] if views else None)
    initial = ref.seen(breaker) if ref is not None else {}
    ever_seen = {pid for v in views for pid in v.seen(breaker)} | {t.worker for t in moves if t.worker is not None}
    acting = {t.worker for t in moves if t.worker is not None and window.holds(t.at)}
    live = set(ref.live) if ref is not None and ref.live is not None else set()
    pids = set(initial) | acting | live
    return Workers(tuple(sorted(pids)), tuple(sorted(live - ever_seen)), dict(initial))


def first_opens(history: History, breaker: str, pids: tuple[int, ...], since: float) -> dict[int, float | None]:
    """pid -> when that worker's breaker first opened at or after `since` (None: it did not)."""
    found: dict[int, float | None] = dict.fromkeys(pids)
    for t in _moves(history, breaker):
        if t.new == "open" and t.at >= since and t.worker in found and found[t.worker] is None:
            found[t.worker] = t.at
    return found


@dataclass(frozen=True)
class Disagreement:
    """A stretch in which some workers' breaker was open (or half-open) and
    others' closed, with who was which as it began."""

    start: float
    end: float
    tripped: tuple[int, ...]
    closed: tuple[int, ...]

    @property
    def length(self) -> float:
        return self.end - self.start


def disagreements(history: History, breaker: str, workers: Workers, window: Window) -> list[Disagreement]:
    """The stretches of `window` in which `workers` disagreed about `breaker`,
    each with who was tripped and who closed, in time order. A worker's state
    is the one last viewed before the window (closed if none), then its
    transitions."""
    state = {pid: workers.initial.get(pid, "closed") for pid in workers.pids}
    events = [t for t in _moves(history, breaker) if t.worker in state]
    for t in events:  # transitions before the window set where each worker starts it
        if t.at < window.start:
            state[t.worker] = t.new  # type: ignore[index]
    out: list[Disagreement] = []
    cursor = window.start

    def close_segment(until: float) -> None:
        tripped = tuple(p for p, s in sorted(state.items()) if s != "closed")
        closed = tuple(p for p, s in sorted(state.items()) if s == "closed")
        if tripped and closed and until > cursor:
            if out and out[-1].end == cursor:  # one stretch, however its members change
                out[-1] = Disagreement(out[-1].start, until, out[-1].tripped, out[-1].closed)
            else:
                out.append(Disagreement(cursor, until, tripped, closed))

    for t in events:
        if not window.start <= t.at < window.end:
            continue
        close_segment(t.at)
        cursor = t.at
        state[t.worker] = t.new  # type: ignore[index]
    close_segment(window.end)
    return out


def describe_split(breaker: str, opened: dict[int, float | None], t0: float) -> str:
    """'gateway->orders opened in 1 of 4 workers (pid 11 at +0.41 s; 12, 13, 14 stayed closed)'."""
    tripped = sorted((at, pid) for pid, at in opened.items() if at is not None)
    stayed = sorted(pid for pid, at in opened.items() if at is None)
    parts = [f"pid {pid} at +{at - t0:.2f} s" for at, pid in tripped]
    if stayed:
        parts.append(f"{', '.join(map(str, stayed))} stayed closed")
    return f"{breaker} opened in {len(tripped)} of {len(opened)} workers ({'; '.join(parts)})"
