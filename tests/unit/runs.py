"""Synthetic run folders for `chaos advise`: an order-slow-like run (3 s of
latency on gateway->orders from +8 s to +18 s) at 30 req/s of the shop's mix,
written as a real run writes history.jsonl and run.json."""

from __future__ import annotations

import json
import random
from pathlib import Path

from chaos.history import BreakerInfo, BreakerStats, FaultEvent, History, Mark, Request, Transition

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_000_000.0
MIX = {"user": 3, "profile": 2, "user-orders": 1, "place-order": 2}
NEEDS_ORDERS = {"profile", "user-orders", "place-order"}
FAULT = (8.0, 18.0)
# gateway->orders: opens 1.05 s in, one trial fails during the fault, closes 1.1 s after it ended.
MOVES = [("closed", "open", 9.05), ("open", "half-open", 14.05), ("half-open", "open", 14.06),
         ("open", "half-open", 19.1), ("half-open", "closed", 19.1)]
LATENCY = {"window": 100, "p50": 0.004, "p90": 0.008, "p99": 0.012, "max": 0.040}
CALLS = {"successful": 520, "failed": 6, "ignored": 0, "not_permitted": 190}


def _req(route: str, start: float, latency: float, status: int = 200, fallback: str | None = None,
         reason: str = "breaker-open") -> Request:
    return Request(route, "GET", f"/{route}", T0 + start, T0 + start, T0 + start + latency, status, None, fallback,
                   reason if fallback else None)


def _state(t: float, moves: list[tuple[str, str, float]]) -> str:
    state = "closed"
    for _, new, at in moves:
        if at <= t:
            state = new
    return state


def order_slow_history(blips: tuple[float, ...] = (25.0,), stats: bool = True, duration: float = 30.0,
                       moves: list[tuple[str, str, float]] = MOVES) -> History:
    """The run's history. `blips` are times of failures of gateway->orders
    outside the fault; `stats` False leaves out the BreakerStats (an old run);
    `moves` are gateway->orders' transitions (old, new, seconds from load start)."""
    rng = random.Random(3)
    h = History([Mark("load-start", T0, {"rate": 30})])
    for edge, fail_max, reset in (("gateway->users", 5, 5.0), ("gateway->orders", 5, 5.0), ("orders->inventory", 3, 2.0)):
        h.append(BreakerInfo(edge, "closed", fail_max, reset, True, T0 - 0.5))
    h.append(FaultEvent(0, "start", "latency", "latency 3000 ms on gateway->orders (downstream)", ("orders",), T0 + FAULT[0]))
    h.append(FaultEvent(0, "end", "latency", "latency 3000 ms on gateway->orders (downstream)", ("orders",), T0 + FAULT[1]))
    for old, new, at in moves:
        h.append(Transition("gateway->orders", old, new, T0 + at, T0 + at + 0.002))
    routes = [r for r, w in MIX.items() for _ in range(w)]
    i, t = 0, 0.0
    while t < duration:
        route = routes[i % len(routes)]
        if route in NEEDS_ORDERS and _state(t, moves) != "closed":
            h.append(_req(route, t, 0.003, 200, "orders"))  # refused at once: the fallback
        elif route in NEEDS_ORDERS and FAULT[0] <= t < FAULT[1]:
            h.append(_req(route, t, 1.0, 200, "orders", "failure"))  # waited out the read timeout
        elif route in NEEDS_ORDERS and any(abs(t - b) < 1 / 60 for b in blips):
            h.append(_req(route, t, 0.02, 200, "orders", "failure"))  # one call failed: the gateway fell back
        else:
            h.append(_req(route, t, rng.uniform(0.004, 0.015)))
        i += 1
        t = i / 30
    h.append(Mark("load-stop", T0 + duration))
    if stats:
        h.append(BreakerStats("gateway->orders", "closed", 5, 5.0, CALLS, {"ReadTimeout": 5, "HTTPError": 1}, LATENCY, True,
                              T0 + duration + 2))
        h.append(BreakerStats("gateway->users", "closed", 5, 5.0, {"successful": 450, "failed": 0, "ignored": 0, "not_permitted": 0},
                              {}, {"window": 100, "p50": 0.003, "p90": 0.005, "p99": 0.007, "max": 0.009}, True, T0 + duration + 2))
        h.append(BreakerStats("orders->inventory", "closed", 3, 2.0, {"successful": 240, "failed": 0, "ignored": 0, "not_permitted": 0},
                              {}, None, True, T0 + duration + 2))
    h.append(Mark("run-end", T0 + duration + 3))
    return h


def order_slow_folder(folder: Path, history: History | None = None, system_path: Path | None = ROOT / "system.yaml") -> Path:
    """Write history.jsonl and run.json (with the fault's parameters and the system file) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (history or order_slow_history()).write_jsonl(folder / "history.jsonl")
    info = {"scenario": "order-slow", "run_id": "synth001", "breakers": "on", "runtime": "local",
            "parameters": {"name": "order-slow", "faults": [{"kind": "latency", "edge": "gateway->orders", "latency": 3000,
                                                              "jitter": 0, "at": 8.0, "duration": 10.0}]}}
    if system_path is not None:
        info["system_path"] = str(system_path)
    (folder / "run.json").write_text(json.dumps(info, indent=2))
    return folder
