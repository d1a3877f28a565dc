"""Builders of synthetic histories for check tests: a run shaped like the real
ones (baseline, fault, recovery), with knobs to break each property."""

from __future__ import annotations

from chaos.history import BreakerInfo, FaultEvent, History, LoadDelivery, Mark, ReadBack, Request, Transition

T0 = 1_000_000.0
BREAKER = "gateway->orders"


def request(route: str, start: float, latency: float, status: int = 200, fallback: str | None = None, **kw) -> Request:
    return Request(route, "GET", f"/{route}", T0 + start, T0 + start, T0 + start + latency, status, None, fallback, None, **kw)


def run(
    *,
    fault: tuple[float, float] = (8.0, 18.0),
    targets: tuple[str, ...] = ("orders",),
    opens_at: float | None = 8.3,
    transitions: list[tuple[str, str, float]] | None = None,
    affected_latency: float = 0.005,
    affected_fallback: bool = True,
    user_latency_during: float = 0.012,
    user_status_during: int = 200,
    enabled: bool = True,
    writes: int = 20,
    lost: int = 0,
    duration: float = 30.0,
    reverting_from: float | None = None,
    worker: int | None = None,
) -> History:
    h = History()
    h.append(Mark("load-start", T0))
    h.append(BreakerInfo(BREAKER, "closed", 5, 5.0, enabled, T0))
    f0, f1 = fault
    h.append(FaultEvent(0, "start", "kill", "kill orders", targets, T0 + f0))
    h.append(FaultEvent(0, "end", "kill", "kill orders", targets, T0 + f1,
                        reverting_since=None if reverting_from is None else T0 + reverting_from))
    if transitions is None:
        transitions = []
        if opens_at is not None:
            transitions = [("closed", "open", opens_at), ("open", "half-open", f1 + 4.0), ("half-open", "closed", f1 + 4.0)]
    for old, new, at in transitions:
        h.append(Transition(BREAKER, old, new, T0 + at, T0 + at + 0.002, worker))
    t = 0.0
    while t < duration:
        during = f0 <= t < f1
        h.append(request("user", t, user_latency_during if during else 0.010, user_status_during if during else 200))
        open_now = _state_at(transitions, t) == "open"
        if open_now:
            fb = "orders" if affected_fallback else None
            h.append(request("profile", t + 0.01, affected_latency, 200 if fb else 504, fallback=fb))
        elif during:
            h.append(request("profile", t + 0.01, 1.0, 503, fallback="orders"))
        else:
            h.append(request("profile", t + 0.01, 0.015))
        t += 0.1
    for i in range(writes):
        h.append(request("place-order", 0.5 + i * 0.3, 0.02, 201, write_id=str(i + 1), write_body={"sku": "SKU-1"}))
        ok = i >= lost
        h.append(ReadBack("place-order", str(i + 1), 200 if ok else 404, ok, f"{i + 1}: {'ok' if ok else 'missing'}", T0 + duration + 1))
    h.append(Mark("load-stop", T0 + duration))
    return h


def _state_at(transitions: list[tuple[str, str, float]], t: float) -> str:
    state = "closed"
    for _, new, at in transitions:
        if at <= t:
            state = new
    return state


def delivered(h: History, asked: float = 20.0, rate: float | None = None, lag_p99: float = 0.002, max_lag: float = 0.1,
              not_sent: int = 0, keeps_time_up_to: float = 1000.0) -> History:
    """`h` with the LoadDelivery the generator records when load stops."""
    rate = asked if rate is None else rate
    h.append(LoadDelivery(asked, 30.0, int(rate * 30), not_sent, rate, 0.001, lag_p99, lag_p99 * 2, max_lag, 1000,
                          keeps_time_up_to, T0 + 30))
    return h
