"""What the breakers report: counters, the transition log, the process's boot id.

`RecordingListener` is a pybreaker listener (pybreaker's own extension point)
that counts each breaker's calls, successes, failures by reason and
rejections, and writes every state transition, stamped with wall-clock time,
to a `TransitionLog` that long-pollers wait on. `shopkit.web` serves both.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pybreaker

# Made once per process, so a reader of /breakers can tell a restarted service
# (new boot_id, sequence numbers starting again at 1) from a quiet one.
BOOT_ID = uuid.uuid4().hex


class BreakerListener(pybreaker.CircuitBreakerListener):
    """pybreaker's listener plus the one hook it lacks: a call rejected unrun."""

    def rejected(self, cb: pybreaker.CircuitBreaker, message: str) -> None:
        """Called when breaker `cb` refuses a call without running it."""


class TransitionLog:
    """The breaker transitions of one app (one per process under gunicorn).

    Thread-safe. Each entry is `{"seq", "breaker", "from", "to", "at"}` with
    `seq` counting 1, 2, 3... and `at` the wall-clock time (`time.time()`).
    Long-pollers block in `since` and are woken the moment an entry is added.
    Only the newest `maxlen` entries are kept, so a flapping breaker cannot
    grow memory without bound.
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
            entry = {"seq": self._last_seq, "breaker": breaker, "from": old, "to": new, "at": time.time()}
            self._entries.append(entry)
            self._changed.notify_all()
            return entry

    def since(self, after: int, wait: float = 0.0) -> tuple[int, list[dict[str, Any]]]:
        """Return (last_seq, entries with seq > after).

        Waits up to `wait` seconds for such an entry to exist, returning as
        soon as one does. A caller who sees a new boot_id must start again
        from after=0: sequence numbers restart with the process.
        """
        with self._changed:
            self._changed.wait_for(lambda: self._last_seq > after, timeout=wait)
            return self._last_seq, [dict(e) for e in self._entries if e["seq"] > after]


class RecordingListener(BreakerListener):
    """Counts calls, successes, failures (by reason) and rejections per breaker,
    and logs every state transition to a `TransitionLog`.

    A failure's reason is the exception's `reason` attribute when it has one
    (`shopkit.downstream.Unavailable` does), else its class name. `calls`
    counts the calls that ran; `rejections` those refused unrun.
    """

    def __init__(self, log: TransitionLog) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._stats: dict[str, dict[str, Any]] = {}

    def before_call(self, cb: pybreaker.CircuitBreaker, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._count(cb.name, "calls")

    def success(self, cb: pybreaker.CircuitBreaker) -> None:
        self._count(cb.name, "successes")

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        with self._lock:
            by_reason = self._entry(cb.name)["failures"]
            by_reason[reason] = by_reason.get(reason, 0) + 1

    def rejected(self, cb: pybreaker.CircuitBreaker, message: str) -> None:
        self._count(cb.name, "rejections")

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.log.append(cb.name, old_state.name if old_state else None, new_state.name)

    def stats(self, name: str) -> dict[str, Any]:
        """A copy of breaker `name`'s counters; failures as {reason: count}."""
        with self._lock:
            entry = self._entry(name)
            return {**entry, "failures": dict(entry["failures"])}

    def _count(self, name: str, key: str) -> None:
        with self._lock:
            self._entry(name)[key] += 1

    def _entry(self, name: str) -> dict[str, Any]:
        return self._stats.setdefault(name, {"calls": 0, "successes": 0, "failures": {}, "rejections": 0})
