"""Advice on breaker settings from the evidence of one run (`chaos advise RUN_DIR`).

Breaker settings are hard to choose from first principles: a read timeout
must sit above the slowest healthy call and as far below a hung one as it
can; fail_max must outlast the error blips of a healthy downstream but trip
soon in an outage; a reset timeout trades trials sent into a fault against
time spent refusing a downstream that is back. A run has the figures for all
three: the agents' call latency per breaker (BreakerStats), the requests,
the fault windows and the transitions. Each advice line cites the figures it
stands on, and says plainly what the run cannot tell.

Pure over its inputs (`advise`); `advise_run` only reads a run folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import ConfigError
from chaos.history import BreakerStats, History, Request, Transition
from chaos.history.queries import Window, breaker_info, fault_windows, load_start, percentile, run_end, state_windows
from chaos.spec import load_system
from chaos.spec.budget import longest_wait, possessive
from chaos.spec.system import EdgeSpec, System

FALSE_TRIPS = 2.0  # a read timeout under this many healthy p99s times out healthy calls
FAR_ABOVE = 10.0  # a read timeout above this many worst healthy calls holds callers far too long
CALLEE_WORK = 1.2  # a caller waits this much longer than its callee waits behind it


@dataclass(frozen=True)
class Advice:
    """One piece of advice: its topic (read_timeout, fail_max, reset_timeout),
    level (ok, warn, unknown), the line a person reads, and its figures."""

    topic: str
    level: str
    text: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeAdvice:
    """Everything advised about one edge's breaker, with the settings and
    counters it was judged on (None where the run did not record them)."""

    edge: str
    read_timeout: float
    fail_max: int | None
    reset_timeout: float | None
    stats: BreakerStats | None
    advice: list[Advice]


def advise_run(run_dir: Path, system_path: Path | None = None) -> tuple[dict[str, Any], list[EdgeAdvice]]:
    """(run.json's contents, advice per edge) for a run folder. The system file
    is the one run.json names when it still exists, else `system_path`.
    ConfigError when the folder has no history or no system file is found."""
    history_file = run_dir / "history.jsonl"
    if not history_file.is_file():
        raise ConfigError(run_dir, None, None, "no history.jsonl here: not a run folder")
    info_file = run_dir / "run.json"
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    recorded = Path(info["system_path"]) if info.get("system_path") else None
    chosen = recorded if recorded is not None and recorded.is_file() else system_path
    if chosen is None:
        raise ConfigError(info_file, None, "system_path", "the run does not name its system file: give it with --system")
    return info, advise(History.read_jsonl(history_file), load_system(chosen), info)


def advise(history: History, system: System, info: dict[str, Any]) -> list[EdgeAdvice]:
    """Advice for every edge of `system` from one run's `history` and its
    run.json `info` (for the scenario's name and fault parameters)."""
    return [_edge(history, system, info, edge) for edge in system.spec.edges]


def lines(found: list[EdgeAdvice]) -> list[str]:
    """Plain lines grouped by edge: a heading with the settings and counters,
    then one line per piece of advice, tagged ok, WARN or unknown."""
    tags = {"ok": "ok     ", "warn": "WARN   ", "unknown": "unknown"}
    out: list[str] = []
    for e in found:
        settings = f"read timeout {_s(e.read_timeout)}, fail_max {_or(e.fail_max)}, reset timeout {_s(e.reset_timeout)}"
        if e.stats is not None:
            calls = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in e.stats.calls.items())
            reasons = ", ".join(f"{k} {v}" for k, v in e.stats.failures_by_reason.items())
            settings += f"; calls: {calls}" + (f"; failures: {reasons}" if reasons else "")
        out.append(f"{e.edge}  ({settings})")
        out.extend(f"  {tags[a.level]}  {a.text}" for a in e.advice)
    return out


def as_json(info: dict[str, Any], found: list[EdgeAdvice]) -> dict[str, Any]:
    """The advice for machines: the run, then each edge with its settings, counters and advice."""
    return {"scenario": info.get("scenario"), "run_id": info.get("run_id"), "system": info.get("system_path"),
            "edges": [{"edge": e.edge, "read_timeout": e.read_timeout, "fail_max": e.fail_max, "reset_timeout": e.reset_timeout,
                       "calls": e.stats.calls if e.stats else None,
                       "failures_by_reason": e.stats.failures_by_reason if e.stats else None,
                       "latency": e.stats.latency if e.stats else None,
                       "advice": [asdict(a) for a in e.advice]} for e in found]}


# -- one edge -----------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """What the run saw of one edge: the requests through it outside every
    disturbance, how long that was, and the disturbances themselves."""

    routes: list[str]
    direct: list[str]  # routes that need nothing but this edge's two ends, from the entrypoint
    healthy: list[Request]
    healthy_seconds: float
    disturbed: list[Window]


def _edge(history: History, system: System, info: dict[str, Any], edge: EdgeSpec) -> EdgeAdvice:
    stats = next((s for s in reversed(history.of(BreakerStats)) if s.breaker == edge.name), None)
    first = breaker_info(history, edge.name)
    fail_max = stats.fail_max if stats is not None else (first.fail_max if first else None)
    reset = stats.reset_timeout if stats is not None else (first.reset_timeout if first else None)
    evidence = _evidence(history, system, edge)
    advice = [_read_timeout(history, system, info, edge, stats, evidence),
              _fail_max(history, edge, fail_max, evidence),
              *_reset_timeout(history, info, edge, reset)]
    return EdgeAdvice(edge.name, edge.read_timeout, fail_max, reset, stats, advice)


def _evidence(history: History, system: System, edge: EdgeSpec) -> _Evidence:
    # A route goes through the edge when it needs both ends (the entrypoint is always needed).
    routes = [r for r in system.routes if {edge.source, edge.target} <= system.depends_on(r)]
    direct = [r for r in routes if edge.source == system.spec.entrypoint and system.depends_on(r) == {edge.source, edge.target}]
    # Disturbed: any fault (a fault elsewhere may still slow this edge) and any
    # time this breaker was not closed (its calls were refused or trials).
    disturbed = [*fault_windows(history), *state_windows(history, edge.name, "open"),
                 *state_windows(history, edge.name, "half-open")]
    begin, end = load_start(history), run_end(history)
    healthy = sorted((r for r in history.of(Request) if r.route in routes and begin <= r.t_start and r.t_end <= end
                      and not any(w.start < r.t_end and r.t_start < w.end for w in disturbed)), key=lambda r: r.t_start)
    covered = sum(b - a for a, b in _union([(max(w.start, begin), min(w.end, end)) for w in disturbed]))
    return _Evidence(routes, direct, healthy, max(0.0, end - begin - covered), disturbed)


def _read_timeout(history: History, system: System, info: dict[str, Any], edge: EdgeSpec, stats: BreakerStats | None,
                  ev: _Evidence) -> Advice:
    t = edge.read_timeout
    figures = _healthy_latency(history, edge, stats, ev)
    if isinstance(figures, str):
        return Advice("read_timeout", "unknown", f"read timeout {_s(t)}: {figures}: no read-timeout advice")
    p50, p99, worst, source = figures["p50"], figures["p99"], figures["max"], figures["source"]
    worst = max(worst, 1e-4)  # a clock that said 0 s must not divide by zero; 0.1 ms is below anything a network call takes
    seen = f"healthy calls p50 {_s(p50)}, p99 {_s(p99)}, max {_s(worst)} ({source})"
    floor = 0.0
    behind = longest_wait(edge.target, system.spec.edges)
    if behind is not None:
        floor = behind.read_timeout * CALLEE_WORK
    suggest = max(_round_up(max(5 * worst, 10 * p99, 0.1)), _round_up(floor))
    figures.update(read_timeout=t, suggested=suggest)
    floored = behind is not None and suggest == _round_up(floor) and floor > 0
    named = _s(suggest) + (f" (no less: {edge.target} waits up to {_s(behind.read_timeout)} on {behind.target} before it "
                           "falls back)" if floored and behind is not None else "")
    if t < FALSE_TRIPS * p99:
        return Advice("read_timeout", "warn", f"read timeout {_s(t)}: {seen}: under {FALSE_TRIPS:g}x the healthy p99, so healthy "
                                               f"calls will time out and count as failures (false trips); raise it to {named}",
                      figures)
    if suggest >= t:
        return Advice("read_timeout", "ok", f"read timeout {_s(t)}: {seen}: {t / worst:.0f}x the worst healthy call", figures)
    text = f"read timeout {_s(t)}: {seen}: {named} would still be {suggest / worst:.0f}x the worst healthy call"
    slow = _latency_fault(info, edge)
    if slow is not None:
        name, latency = slow
        if latency > suggest:
            text += f" and would give up {min(latency, t) / suggest:.1f}x sooner under {name}'s {_s(latency)} latency"
            figures["fault_latency"] = latency
    # Far above: beyond what the evidence asks and beyond what the budget behind it needs.
    level = "warn" if t > FAR_ABOVE * worst and t > 2 * suggest else "ok"
    if level == "warn":
        text += f"; {_s(t)} is over {FAR_ABOVE:g}x the worst healthy call: a hung {edge.target} holds each caller that long"
    return Advice("read_timeout", level, text, figures)


def _healthy_latency(history: History, edge: EdgeSpec, stats: BreakerStats | None, ev: _Evidence) -> dict[str, Any] | str:
    """p50/p99/max of healthy calls: the agent's window when every call in it
    came after the last disturbance, else the requests on routes that need only
    this edge's target (end to end: an upper bound of the edge's own calls);
    else why neither can be had, in words."""
    lat = stats.latency if stats is not None else None
    agent = ("its agent reported no call latency" if stats is None or lat is None else
             "its agent saw no calls" if not lat.get("window") else
             f"the agent's last {lat['window']} calls may include calls under a fault")
    if lat and lat.get("window"):
        last = max((w.end for w in ev.disturbed), default=None)
        after = sum(1 for r in history.of(Request) if r.route in ev.routes and (last is None or r.t_start >= last))
        if last is None or after >= lat["window"]:
            where = "no disturbance in the run" if last is None else "all after the last fault and breaker recovery"
            return {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"], "n": lat["window"],
                    "source": f"{edge.source}'s breaker, its last {lat['window']} calls, {where}"}
    if not ev.direct:
        return f"no latency of {edge.name}'s own calls outside faults: {agent}, and no route needs only {edge.target}"
    only = [r for r in ev.healthy if r.route in ev.direct]
    if not only:
        return f"no calls observed through {edge.name} outside faults ({agent}; none on {', '.join(ev.direct)})"
    values = [r.latency for r in only]
    names = ", ".join(sorted({r.route for r in only}))
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values), "n": len(values),
            "source": f"{len(values)} requests on {names} outside faults, end to end: an upper bound of the edge's calls"}


def _fail_max(history: History, edge: EdgeSpec, fail_max: int | None, ev: _Evidence) -> Advice:
    if fail_max is None:
        return Advice("fail_max", "unknown", f"no breaker settings recorded for {edge.name} (its agent never answered): "
                                              "no fail_max advice")
    if not ev.healthy or ev.healthy_seconds <= 0:
        return Advice("fail_max", "unknown", f"fail_max {fail_max}: no calls observed through {edge.name} outside faults: "
                                              "no rate to judge it against")
    rate = len(ev.healthy) / ev.healthy_seconds
    runs = _failure_runs(ev.healthy, edge, ev.direct)
    longest = max(runs, default=0)
    figures: dict[str, Any] = {"fail_max": fail_max, "rate": rate, "trip_after": fail_max / rate, "healthy_requests": len(ev.healthy),
                               "failures": sum(runs), "longest_run": longest}
    text = (f"fail_max {fail_max}: ~{rate:.1f} req/s through {edge.name} (routes {', '.join(ev.routes)}) outside faults: a full "
            f"outage trips it after ~{_s(fail_max / rate)}; a slow one after {_s(edge.read_timeout)} + ~{_s(fail_max / rate)}")
    opened = _opened_after_faults(history, edge)
    if opened:
        figures["opened_after"] = opened
        text += "; observed: opened " + ", ".join(f"{_s(d)} after {name} began" for name, d in opened)
    if longest >= fail_max:
        return Advice("fail_max", "warn", text + f"; but {longest} consecutive failures were seen outside faults "
                                                 f"({sum(runs)} over {len(ev.healthy)} requests): blips that trip it; "
                                                 f"raise it above {longest}", figures)
    if runs:
        return Advice("fail_max", "ok", text + f"; {_n(sum(runs), 'failure')} in {_n(len(runs), 'run')} outside faults, the longest "
                                               f"{longest} ({len(ev.healthy)} requests): fail_max must stay above {longest}", figures)
    return Advice("fail_max", "ok", text + f"; no failures outside faults over {len(ev.healthy)} requests", figures)


def _failure_runs(healthy: list[Request], edge: EdgeSpec, direct: list[str]) -> list[int]:
    """Lengths of the runs of consecutive failures of this edge, in start
    order: this breaker's fallback, or an unmarked error (no answer, a 5xx)
    on a route that needs nothing but this edge (elsewhere it may be another's)."""
    runs, current = [], 0
    for r in healthy:
        failed = r.fallback == edge.breaker_name or (r.fallback is None and r.route in direct
                                                      and (r.status is None or r.status >= 500))
        if failed:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs + ([current] if current else [])


def _opened_after_faults(history: History, edge: EdgeSpec) -> list[tuple[str, float]]:
    out = []
    opens = sorted(t.at for t in history.of(Transition) if t.breaker == edge.name and t.new == "open")
    for w in fault_windows(history, frozenset({edge.target})):
        first = next((at for at in opens if w.start <= at < w.end), None)
        if first is not None:
            out.append((w.label, first - w.start))
    return out


def _reset_timeout(history: History, info: dict[str, Any], edge: EdgeSpec, reset: float | None) -> list[Advice]:
    if reset is None:
        return [Advice("reset_timeout", "unknown", f"no breaker settings recorded for {edge.name}: no reset-timeout advice")]
    faults = fault_windows(history, frozenset({edge.target}))
    if not faults:
        return [Advice("reset_timeout", "unknown", f"reset timeout {_s(reset)}: no fault reached {edge.target} in this run: "
                                                   "no recovery observed, no reset-timeout advice")]
    moves = sorted((t for t in history.of(Transition) if t.breaker == edge.name), key=lambda t: t.at)
    end_of_load = run_end(history)
    out = []
    for i, w in enumerate(faults):
        until = faults[i + 1].start if i + 1 < len(faults) else end_of_load
        during = [t for t in moves if w.start <= t.at < w.end]
        after = [t for t in moves if w.end <= t.at < until]
        opened = any(t.new == "open" for t in during)
        if not opened:
            out.append(Advice("reset_timeout", "unknown", f"reset timeout {_s(reset)}: the breaker did not open during {w.label}: "
                                                          "no recovery to judge it by"))
            continue
        failed_in = sum(1 for t in during if t.old == "half-open" and t.new == "open")
        failed_after = sum(1 for t in after if t.old == "half-open" and t.new == "open")
        closed = next((t.at for t in after if t.new == "closed"), None)
        figures = {"fault": w.label, "fault_seconds": w.length, "failed_trials_during": failed_in,
                   "failed_trials_after": failed_after, "closed_after_end": None if closed is None else closed - w.end}
        text = (f"reset timeout {_s(reset)}: {w.label} lasted {_s(w.length)}; {_n(failed_in, 'trial')} failed during it, "
                f"{failed_after} after it ended")
        if closed is None:
            out.append(Advice("reset_timeout", "warn", text + f"; still not closed {_s(until - w.end)} after it ended", figures))
            continue
        recovery = closed - w.end
        text += f"; closed {_s(recovery)} after it ended"
        if failed_after >= 2:
            out.append(Advice("reset_timeout", "warn", text + f": {_s(reset)} is much shorter than {possessive(edge.target)} own "
                                                              f"recovery (~{_s(recovery)}): each failed trial costs a caller a failed "
                                                              f"call; ~{_s(math.ceil(recovery))} would fail fewer", figures))
        elif recovery > max(1.0, reset / 2):
            out.append(Advice("reset_timeout", "ok", text + f": the breaker kept refusing a recovered {edge.target} for up to "
                                                            f"{_s(reset)}; a shorter reset timeout closes sooner, at the price of "
                                                            f"more trials into a fault (here ~{w.length / reset:.0f} per {_s(w.length)})",
                              figures))
        else:
            out.append(Advice("reset_timeout", "ok", text + ": recovery followed the fault closely", figures))
    return out


# -- helpers ------------------------------------------------------------------


def _latency_fault(info: dict[str, Any], edge: EdgeSpec) -> tuple[str, float] | None:
    """(the scenario's name, the latency in seconds) of the run's first latency fault on this edge."""
    for fault in (info.get("parameters") or {}).get("faults") or []:
        if fault.get("kind") == "latency" and fault.get("edge") == edge.name and fault.get("latency"):
            return str(info.get("scenario") or "the run"), fault["latency"] / 1000
    return None


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _round_up(seconds: float) -> float:
    """Up to one significant digit: 0.12 -> 0.2, 0.048 -> 0.05, 0.6 -> 0.6."""
    if seconds <= 0:
        return 0.0
    unit = 10 ** math.floor(math.log10(seconds))
    return round(math.ceil(round(seconds / unit, 9)) * unit, 9)


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3g} s"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _or(value: Any) -> str:
    return "unknown" if value is None else str(value)
