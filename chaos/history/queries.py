"""Reading time windows and figures out of a history; shared by the checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from chaos.history import BreakerInfo, FaultEvent, History, LoadDelivery, Pressure, Request, Transition

if TYPE_CHECKING:
    from chaos.spec.system import System

DELIVERED_SHARE = 0.95  # of the asked rate, below which load was not delivered
NOT_DELIVERED = "load not delivered"  # how the evidence of a verdict it made unknown begins


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    label: str = ""
    targets: frozenset[str] = frozenset()
    reverting_since: float | None = None  # a fault's: when undoing it began

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def acting_end(self) -> float:
        """When a fault window's fault stopped acting: when undoing it began.
        A killed service starting again may answer before its fault's end is
        recorded (that waits until the service is ready)."""
        return self.end if self.reverting_since is None else self.reverting_since

    def acting(self, t: float) -> bool:
        """Whether the fault still acted at `t` (see `acting_end`)."""
        return self.start <= t < self.acting_end

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Share:
    """What the system's units got of the machine over some Pressure samples
    (chaos.engine.pressure): the cores they ran on, and the seconds their
    threads waited, runnable, for a CPU per second they ran on one."""

    cores: float
    wait: float
    seconds: float

    @property
    def stretch(self) -> float:
        """How many times longer their CPU work took than on an idle machine."""
        return 1.0 + self.wait


def units_share(samples: Iterable[Pressure]) -> Share | None:
    """The units' share over those of `samples` that carry their figures;
    None without any (a runtime that gives no process groups) or no CPU."""
    part = [p for p in samples if p.units_cpu is not None and p.units_wait is not None]
    seconds = sum(p.interval for p in part)
    ran = sum(p.units_cpu * p.interval for p in part)  # type: ignore[operator]
    if seconds <= 0 or ran <= 0:
        return None
    waited = sum(p.units_wait * p.interval for p in part)  # type: ignore[operator]
    return Share(cores=ran / seconds, wait=waited / ran, seconds=seconds)


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
            out.append(Window(start.at, e.at, start.description, frozenset(start.targets), e.reverting_since))
    out.extend(Window(s.at, run_end(history), s.description, frozenset(s.targets)) for s in open_.values())
    if touching is not None:
        out = [w for w in out if w.targets & touching]
    return sorted(out, key=lambda w: w.start)


def breaker_states(history: History, breaker: str) -> list[tuple[float, str, Transition | BreakerInfo]]:
    """Every state `breaker` was seen in, in time order: its transitions (the
    new state) and each fresh read of it (`BreakerInfo`, recorded when the
    watcher first sees it and again whenever its service restarts: a
    restarted service holds a new breaker, whatever the old one's last
    transition said)."""
    seen: list[tuple[float, str, Transition | BreakerInfo]] = [(t.at, t.new, t) for t in history.of(Transition) if t.breaker == breaker]
    seen += [(i.at, i.state, i) for i in history.of(BreakerInfo) if i.breaker == breaker]
    return sorted(seen, key=lambda s: s[0])


def state_windows(history: History, breaker: str, state: str) -> list[Window]:
    """The windows in which `breaker` was in `state`, from its transitions
    and fresh reads (see `breaker_states`)."""
    out = []
    opened: float | None = None
    for at, new, _ in breaker_states(history, breaker):
        if new == state and opened is None:
            opened = at
        elif new != state and opened is not None:
            out.append(Window(opened, at, state))
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


def sent_to(history: History, routes: Iterable[str]) -> list[str]:
    """Those of `routes` the load sent any request to, in their order; all of
    `routes` when it sent to none (so a verdict of too few requests still
    names them). A check's default routes come from the system file, which may
    declare routes a scenario's mix never loads: they are not evidence."""
    routes = list(routes)
    seen = {r.route for r in history.of(Request)}
    return [r for r in routes if r in seen] or routes


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def success_rate(requests: list[Request], meant: Callable[[Request], bool] | None = None) -> float:
    """The share of `requests` answered as meant (`meant`, e.g. the system's
    `answered_as_meant`; default a full 2xx/3xx answer); NaN for none."""
    judge = meant or (lambda r: r.ok)
    return sum(judge(r) for r in requests) / len(requests) if requests else math.nan


def chance_of_as_many_failures(base_failed: int, base_n: int, failed: int, n: int) -> float:
    """One-sided Fisher exact test: if `base_n + n` requests with
    `base_failed + failed` failures among them had been split at random into
    a baseline of `base_n` and a window of `n`, the chance that the window
    holds `failed` failures or more. Small: the window's failures are unlikely
    to be chance. Log-space terms keep it exact enough and fast for any sample
    size (scipy.stats.fisher_exact gives the same; importing SciPy costs more
    than the whole judging step, so these few lines are ours)."""
    total, bad = base_n + n, base_failed + failed
    if failed <= 0:
        return 1.0

    def log_comb(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    log_all = log_comb(total, n)
    tail = sum(
        math.exp(log_comb(bad, k) + log_comb(total - bad, n - k) - log_all)
        for k in range(failed, min(bad, n) + 1)
        if n - k <= total - bad
    )
    return min(1.0, tail)


def chance_of_at_least(k: int, n: int, share: float) -> float:
    """One-sided binomial test: the chance that `n` requests, each bad with
    probability `share`, hold `k` bad ones or more. Small: more bad ones than
    a system keeping to that share gives by chance."""
    if k <= 0:
        return 1.0
    if share <= 0:
        return 0.0
    if share >= 1:
        return 1.0

    def log_term(i: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                + i * math.log(share) + (n - i) * math.log1p(-share))

    return min(1.0, sum(math.exp(log_term(i)) for i in range(k, n + 1)))


def odds(p: float, of: str = "runs") -> str:
    """How often chance gives as much: 0.56 -> 'in 56% of runs'; 5.9e-12 ->
    'once in 1.7e+11 runs'; 0 -> 'never'."""
    if p >= 0.01:
        return f"in {p:.0%} of {of}"
    return f"once in {1 / p:.2g} {of}" if p > 0 else "never"


def ms(seconds: float) -> str:
    """0.0123 -> '12 ms'; 1.5 -> '1500 ms'."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.0f} ms"


def load_delivery(history: History) -> LoadDelivery | None:
    """What the load generator was asked to send against what it sent; None
    for a history from before it recorded that (judge such a run as it was)."""
    found = history.of(LoadDelivery)
    return found[-1] if found else None


def delivery_of(asked: float, seconds: float, sent: int, not_sent: int, lags: list[float], max_lag: float, cap: int,
                keeps_time_up_to: float, at: float) -> LoadDelivery:
    """The `LoadDelivery` of `sent` requests over `seconds` (at least 1 ns),
    each started `lags` seconds after it was due."""
    seconds = max(seconds, 1e-9)

    def q(p: float) -> float:
        return round(percentile(lags, p), 6) if lags else 0.0

    return LoadDelivery(
        asked=asked, seconds=round(seconds, 4), sent=sent, not_sent=not_sent, delivered=round(sent / seconds, 3),
        lag_p50=q(50), lag_p99=q(99), lag_max=round(max(lags, default=0.0), 6), max_lag=max_lag, cap=cap,
        keeps_time_up_to=keeps_time_up_to, at=at,
    )


def not_delivered(history: History) -> str | None:
    """Why the load was not delivered, in words with its figures; None when it
    was (or the history does not say). Not delivered: fewer than 95% of the
    asked requests a second started, or the schedule lag p99 passed its bound."""
    d = load_delivery(history)
    if d is None:
        return None
    short = d.delivered < DELIVERED_SHARE * d.asked
    late = d.lag_p99 > d.max_lag
    if not (short or late):
        return None
    why = f"{NOT_DELIVERED}: asked {d.asked:g} req/s, delivered {d.delivered:.0f}; lag p99 {duration(d.lag_p99)}"
    if late:
        why += f" (bound {duration(d.max_lag)})"
    if d.not_sent:
        why += f"; {d.not_sent} requests not sent: {d.cap} were already in flight, the generator's cap"
    if d.asked > d.keeps_time_up_to:
        why += f"; this load generator was measured keeping time up to {d.keeps_time_up_to:g} req/s, less than asked"
    return why


def delivery_summary(d: LoadDelivery) -> str:
    """One line: 'asked 30 req/s, delivered 30.0 req/s (900 sent), lag p50 1 ms, p99 3 ms, max 9 ms'."""
    line = (f"asked {d.asked:g} req/s, delivered {d.delivered:.1f} req/s ({d.sent} sent), "
            f"lag p50 {duration(d.lag_p50)}, p99 {duration(d.lag_p99)}, max {duration(d.lag_max)}")
    return line + (f", {d.not_sent} not sent (cap {d.cap} in flight)" if d.not_sent else "")


def asked_rate(history: History) -> float | None:
    """The rate the run asked for, as its load-start mark says (None before load starts)."""
    mark = history.mark("load-start")
    rate = mark.detail.get("rate") if mark else None
    return float(rate) if rate is not None else None


def started_in(history: History, start: float, end: float) -> list[Request]:
    """First attempts that started in [start, end): what the generator delivered then."""
    return [r for r in history.of(Request) if r.attempt == 1 and start <= r.t_start < end]


def duration(seconds: float) -> str:
    """0.0123 -> '12 ms'; 2.2 -> '2.2 s': a lag or bound as a person reads it."""
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


@dataclass(frozen=True)
class Promise:
    """A message the system promised: an acknowledged request on a route that
    `promises:` one, keyed by the request body's key field. `due_from` is
    when the promise could first be kept in full: its acknowledgement, or
    the end of the last fault if that came later."""

    route: str
    message: str
    key: str
    sink: str
    acked_at: float
    due_from: float


def promises(history: History, system: "System") -> list[Promise]:
    """One Promise per (message, key) acknowledged (2xx) on a promising route;
    a retried write acknowledged twice under one key is one promise."""
    faults = fault_windows(history)
    faults_end = max((w.end for w in faults), default=0.0)
    out: dict[tuple[str, str], Promise] = {}
    for r in history.of(Request):
        spec = system.routes.get(r.route)
        if spec is None or spec.promises is None or r.write_key is None or r.status is None or not 200 <= r.status < 300:
            continue
        p = spec.promises
        if (p.message, r.write_key) not in out:
            out[(p.message, r.write_key)] = Promise(r.route, p.message, r.write_key, p.sink, r.t_end, max(r.t_end, faults_end))
    return list(out.values())
