"""What the agent records about breakers: the transition log and each
breaker's counters, durations and sliding window.

Thread-safe with short locks: adapters call these from gunicorn's worker
threads, never while holding a lock across the guarded call.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
import uuid
from typing import Any

from chaos.agent import fallback

KINDS = ("successful", "failed", "ignored")
WINDOW = 100  # calls in the failure-rate window, as Resilience4j's default sliding window
MIN_CALLS = 10  # fewer calls in the window: failure rate -1 ("not yet known"), as Resilience4j

_boot: tuple[int, str] | None = None
_boot_lock = threading.Lock()


def boot_id() -> str:
    """A uuid hex made once per process, so a reader can tell a restarted
    service (new boot_id, seq from 1 again) from a quiet one. A forked worker
    gets its own, not its parent's."""
    global _boot
    with _boot_lock:
        if _boot is None or _boot[0] != os.getpid():
            _boot = (os.getpid(), uuid.uuid4().hex)
        return _boot[1]


class TransitionLog:
    """The breaker transitions of one app in one process.

    Each entry is `{"seq", "breaker", "from", "to", "at", "pid"}` with `seq` counting
    1, 2, 3... and `at` the wall-clock time. Long-pollers block in `since` and
    are woken the moment an entry is added. Only the newest `maxlen` entries
    are kept, so a flapping breaker cannot grow memory without bound.
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        self._changed = threading.Condition()
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self._last_seq = 0

    @property
    def last_seq(self) -> int:
        """The seq of the newest entry, 0 while there is none."""
        with self._changed:
            return self._last_seq

    def append(self, breaker: str, old: str | None, new: str) -> dict[str, Any]:
        """Record one transition now, wake every waiter and return the entry."""
        with self._changed:
            self._last_seq += 1
            entry = {"seq": self._last_seq, "breaker": breaker, "from": old, "to": new, "at": time.time(),
                     "pid": os.getpid()}
            self._entries.append(entry)
            self._changed.notify_all()
            return dict(entry)

    def since(self, after: int, wait: float = 0.0) -> tuple[int, list[dict[str, Any]]]:
        """(last_seq, entries with seq > after), waiting up to `wait` seconds
        for such an entry and returning as soon as one exists."""
        with self._changed:
            self._changed.wait_for(lambda: self._last_seq > after, timeout=wait)
            return self._last_seq, [dict(e) for e in self._entries if e["seq"] > after]


def failure_reason(exc: BaseException) -> str:
    """The exception's `reason` attribute when it has one, else its class name."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) and reason else type(exc).__name__


def latency(durations: list[float]) -> dict[str, Any]:
    """`{"window": n, "p50", "p90", "p99", "max"}` of call durations in
    seconds, nearest-rank percentiles; every figure null when n is 0."""
    if not durations:
        return {"window": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(durations)

    def rank(q: int) -> float:
        return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]

    return {"window": len(ordered), "p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


class BreakerRecorder:
    """One watched breaker's record: what adapters report goes here.

    Adapters call `transition`, `outcome` and `not_permitted`; the endpoints
    and the metrics read `counters` and `metrics`.
    """

    def __init__(self, name: str, log: TransitionLog) -> None:
        self.name = name
        self._log = log
        self._lock = threading.Lock()
        self._calls = dict.fromkeys((*KINDS, "not_permitted"), 0)
        self._seconds = dict.fromkeys(KINDS, 0.0)
        self._reasons: dict[str, int] = {}
        self._window: collections.deque[bool] = collections.deque(maxlen=WINDOW)
        # Durations of the last WINDOW calls that ran, whatever their outcome:
        # the evidence `chaos advise` chooses a read timeout from.
        self._durations: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._transitions: collections.Counter[tuple[str, str]] = collections.Counter()

    def transition(self, old: str | None, new: str) -> None:
        """The breaker moved from state `old` (None: unknown) to `new` (normalised names)."""
        if old == new:
            return
        with self._lock:
            self._transitions[(old or "none", new)] += 1
        self._log.append(self.name, old, new)

    def outcome(self, kind: str, seconds: float, exc: BaseException | None = None) -> None:
        """A call ran for `seconds` and was `kind` (successful, failed or ignored)."""
        with self._lock:
            self._calls[kind] += 1
            self._seconds[kind] += seconds
            self._durations.append(seconds)
            if kind != "ignored":
                self._window.append(kind == "failed")
            if kind == "failed":
                reason = failure_reason(exc) if exc is not None else "unknown"
                self._reasons[reason] = self._reasons.get(reason, 0) + 1
        if kind == "failed":
            fallback.note(self.name, "failure")

    def not_permitted(self) -> None:
        """The breaker refused a call without running it."""
        with self._lock:
            self._calls["not_permitted"] += 1
        fallback.note(self.name, "breaker-open")

    def counters(self) -> dict[str, Any]:
        """`{"calls": {...}, "failures_by_reason": {...}, "latency": {...}}` as GET /breakers shows them."""
        with self._lock:
            durations = list(self._durations)
            return {"calls": dict(self._calls), "failures_by_reason": dict(self._reasons), "latency": latency(durations)}

    def metrics(self) -> dict[str, Any]:
        """Counts, summed seconds, the window's failure rate (-1 below MIN_CALLS)
        and buffered calls, and transition counts, read at once."""
        with self._lock:
            window = list(self._window)
            failed = sum(window)
            rate = -1.0 if len(window) < MIN_CALLS else 100.0 * failed / len(window)
            return {
                "calls": dict(self._calls),
                "seconds": dict(self._seconds),
                "failure_rate": rate,
                "buffered": {"successful": len(window) - failed, "failed": failed},
                "transitions": dict(self._transitions),
            }
