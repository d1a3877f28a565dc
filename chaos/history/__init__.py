"""One history per run: everything that happened, with wall-clock times.

Load, faults and breaker watchers only append here; checks only read. Times
are `time.time()` seconds, the clock the services stamp their breaker
transitions with, so events from every process line up on one axis.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar


@dataclass(frozen=True, slots=True)
class Request:
    """One request the load generator sent, and how it ended."""

    route: str
    method: str
    path: str
    t_sched: float
    t_start: float
    t_end: float
    status: int | None
    error: str | None = None  # "timeout", "connection", ... when no answer came
    fallback: str | None = None  # the fallback that answered: X-Fallback, or what the system file's fallback rule saw
    fallback_reason: str | None = None
    write_id: str | None = None  # for write routes: the id of an acknowledged write
    write_body: dict[str, Any] | None = None  # what was written, for the read-back
    write_key: str | None = None  # the write's idempotency key: a retry reuses it
    attempt: int = 1  # 2 for the load generator's retry of a failed write
    kind: str = "request"

    @property
    def latency(self) -> float:
        return self.t_end - self.t_start

    @property
    def ok(self) -> bool:
        """A full answer: 2xx/3xx and no fallback."""
        return self.status is not None and 200 <= self.status < 400 and self.fallback is None


@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker changed state; `at` is the service's own timestamp, `seen_at` ours."""

    breaker: str  # its edge's name, e.g. "gateway->orders"
    old: str
    new: str
    at: float
    seen_at: float
    worker: int | None = None  # the pid of the worker whose breaker moved (None: the agent did not say)
    kind: str = "transition"


@dataclass(frozen=True, slots=True)
class BreakerInfo:
    """What a breaker looked like when the watcher first saw it (or saw its service restart)."""

    breaker: str
    state: str
    fail_max: int
    reset_timeout: float
    enabled: bool
    at: float
    kind: str = "breaker-info"


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A breaker's settings, counters and recent call latency as its agent
    reported them once more when the run ended: the evidence `chaos advise`
    stands on. `latency` is the agent's `{"window", "p50", "p90", "p99",
    "max"}` in seconds, None when the agent does not report it."""

    breaker: str  # its edge's name, e.g. "gateway->orders"
    state: str
    fail_max: int | None
    reset_timeout: float | None
    calls: dict[str, int]  # successful, failed, ignored, not_permitted
    failures_by_reason: dict[str, int]
    latency: dict[str, Any] | None
    enabled: bool
    at: float
    kind: str = "breaker-stats"


@dataclass(frozen=True, slots=True)
class WorkerViews:
    """The worker processes of one service as its agent reported them at one
    moment: each breaker's state in each worker whose view it had (`views`:
    (breaker edge, pid, state) triples), and every live worker of the
    server (`live`, None when the agent could not tell), seen or not."""

    service: str
    views: tuple[tuple[str, int, str], ...]
    live: tuple[int, ...] | None
    at: float
    kind: str = "worker-views"

    def seen(self, breaker: str) -> dict[int, str]:
        """pid -> state of `breaker` in each worker whose view was read."""
        return {pid: state for b, pid, state in self.views if b == breaker}


@dataclass(frozen=True, slots=True)
class Observation:
    """Whether the toolkit could see a service's breakers through its agent,
    and if not, why: the reason breaker checks give when they say unknown."""

    service: str
    ok: bool
    detail: str
    at: float
    kind: str = "observation"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault began ("start") or ended ("end")."""

    index: int
    phase: str
    fault: str  # its kind, e.g. "kill"
    description: str
    targets: tuple[str, ...]  # services it makes unavailable or slow
    at: float
    detail: str = ""
    # "end" only: when undoing it began. A kill's end is recorded once the
    # service answers again, seconds later; it stopped acting in between.
    reverting_since: float | None = None
    kind: str = "fault"


@dataclass(frozen=True, slots=True)
class Replica:
    """A task (one replica) of a replicated service changed state, as the
    engine reported it (`at` is the engine's time of the change), with how
    many of the service's tasks were running then against how many it wants."""

    service: str
    task: str  # the task's id, short
    slot: int | None
    state: str  # the engine's task state: new, starting, running, failed, shutdown, ...
    running: int
    desired: int
    at: float
    detail: str = ""
    kind: str = "replica"


@dataclass(frozen=True, slots=True)
class ReadBack:
    """After recovery, an acknowledged write was read back."""

    route: str
    write_id: str
    status: int | None
    ok: bool
    detail: str
    at: float
    kind: str = "readback"


@dataclass(frozen=True, slots=True)
class SinkRead:
    """After recovery, what a sink (a unit listing the messages it received,
    e.g. an SMTP sink) listed: each message as (message, key, outbox id,
    received_at); `ok` False, with the reason in `detail`, when it could not
    be read."""

    sink: str
    ok: bool
    detail: str
    messages: tuple[tuple[str, str, str, float], ...]
    at: float
    kind: str = "sink-read"


@dataclass(frozen=True, slots=True)
class Mark:
    """A milestone of the run: run-start, load-start, load-stop, run-end."""

    name: str
    at: float
    detail: dict[str, Any] = field(default_factory=dict)
    kind: str = "mark"


@dataclass(frozen=True, slots=True)
class LoadDelivery:
    """When load stopped: what it was asked to send against what it sent.

    `sent` counts first attempts that actually started (retries excluded: they
    are extra); `not_sent` those dropped because `cap` requests were already in
    flight. Lags are t_start - t_sched of the sent ones, in seconds. `max_lag`
    is the bound the scenario set for lag p99, and `keeps_time_up_to` the rate
    this generator was measured to keep its schedule at.
    """

    asked: float  # req/s
    seconds: float  # from load start to stop
    sent: int
    not_sent: int
    delivered: float  # req/s that started
    lag_p50: float
    lag_p99: float
    lag_max: float
    max_lag: float
    cap: int
    keeps_time_up_to: float
    at: float
    kind: str = "load-delivery"


@dataclass(frozen=True, slots=True)
class LoadSending:
    """While load runs, every half second: what the generator has sent so far,
    whether or not anything answered. Records of requests (Request) come only
    once a request ends, so a system slower than the live view's window would
    look as if nothing were sent; these say what was.

    `sent` and `not_sent` count first attempts since load start, as in
    LoadDelivery; `in_flight` the requests waiting for an answer at `at`;
    `lag_p99` the schedule lag p99 of the first attempts started since the
    previous record (None if none), in seconds.
    """

    at: float
    sent: int
    not_sent: int
    in_flight: int
    lag_p99: float | None
    kind: str = "load-sending"


@dataclass(frozen=True, slots=True)
class Pressure:
    """How starved the machine was over the `interval` seconds before `at`:
    the share of that time in which some runnable task waited for a CPU
    (`cpu`), or some task waited for IO (`io`), 0 to 1, from the kernel's
    pressure stall information (/proc/pressure; None without it). A system slow while the
    machine was starved may be slow for the machine's sake. `units_cpu`:
    the cores the system's own units ran on in that time; `units_wait`:
    how long their threads waited, runnable, for a CPU (thread-seconds a
    second); None where the runtime gives no process groups."""

    at: float
    interval: float
    cpu: float | None
    io: float | None
    units_cpu: float | None = None
    units_wait: float | None = None
    kind: str = "pressure"


Event = (Request | Transition | BreakerInfo | BreakerStats | WorkerViews | Observation | FaultEvent | Replica | ReadBack | SinkRead
         | Mark | LoadDelivery | LoadSending | Pressure)
E = TypeVar("E", Request, Transition, BreakerInfo, BreakerStats, WorkerViews, Observation, FaultEvent, Replica, ReadBack, SinkRead,
            Mark, LoadDelivery, LoadSending, Pressure)
# With slots=True, `Request.kind` is the slot descriptor, not the default: read the field.
_TYPES: dict[str, type] = {t.__dataclass_fields__["kind"].default: t  # type: ignore[attr-defined]
                           for t in (Request, Transition, BreakerInfo, BreakerStats, WorkerViews, Observation, FaultEvent, Replica,
                                      ReadBack, SinkRead, Mark, LoadDelivery, LoadSending, Pressure)}


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


def _plain(value: Any) -> Any:
    """What JSON cannot take as is: a dataclass put into a detail dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class History:
    """An append-only, thread-safe list of events."""

    def __init__(self, events: list[Event] | None = None):
        self._events: list[Event] = list(events or [])
        self._lock = threading.Lock()

    def append(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def since(self, start: int) -> list[Event]:
        """The events recorded after the first `start`: for a reader that
        follows a history as it grows (the live dashboard) without copying
        all of it every time."""
        with self._lock:
            return self._events[start:]

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, in the order they were recorded."""
        return [e for e in self if isinstance(e, kind)]

    def mark(self, name: str) -> Mark | None:
        return next((m for m in self.of(Mark) if m.name == name), None)

    def write_jsonl(self, path: Path) -> None:
        """Write every event as one JSON object a line."""
        # Shallow, not dataclasses.asdict: events hold only plain values,
        # tuples and dicts, and asdict's deep copy was 2/3 of a run's save.
        encode = json.JSONEncoder(separators=(",", ":"), default=_plain).encode
        with path.open("w") as f:
            f.writelines(encode({name: getattr(e, name) for name in _field_names(type(e))}) + "\n" for e in self)

    @classmethod
    def read_jsonl(cls, path: Path) -> "History":
        events: list[Event] = []
        for line in path.read_text().splitlines():
            raw = json.loads(line)
            kind = _TYPES[raw["kind"]]
            if kind is FaultEvent:
                raw["targets"] = tuple(raw["targets"])
            elif kind is WorkerViews:
                raw["views"] = tuple(tuple(v) for v in raw["views"])
                raw["live"] = tuple(raw["live"]) if raw["live"] is not None else None
            elif kind is SinkRead:
                raw["messages"] = tuple(tuple(m) for m in raw["messages"])
            events.append(kind(**raw))
        return cls(events)
