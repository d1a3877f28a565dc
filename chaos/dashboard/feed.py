"""One shared live state of the demo, computed a few times a second.

Every viewer gets the same snapshot: the feed computes it once per tick (and
at once when a breaker moves or a button acts, so a transition reaches the
page within one network hop), and the server hands that one JSON text to
every open event stream. It reads the session's history incrementally
(`History.since`), so a long demo costs the same per tick as a short one.

What the page shows comes from where it is true: breaker states from the
watcher's transitions (the agents' own timestamps), counters from each
agent's /breakers, toxics from Toxiproxy itself, unit status from the
runtime, request figures from the load generator's records.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

import requests

from chaos.clients.http import Session
from chaos.dashboard.session import DemoSession
from chaos.history import BreakerInfo, FaultEvent, Mark, Request, Transition
from chaos.history.queries import percentile
from chaos.runtime import TOXIPROXY

TICK = 0.25  # seconds between snapshots: 4 Hz, twice the floor
WINDOW = 1.0  # seconds of requests each figure is computed over
POINT_EVERY = 0.5  # seconds between chart points
KEEP = 60.0  # seconds of chart the page shows
SLOW_POLL = 1.0  # seconds between reads of agents, Toxiproxy and the runtime
TIMELINE = 40  # timeline entries sent


class Feed:
    """Follows a DemoSession and publishes its state as JSON snapshots."""

    def __init__(self, session: DemoSession, tick: float = TICK):
        self.session = session
        self.tick = tick
        self.seq = 0
        self.text = "{}"  # the latest snapshot, as sent
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._cursor = 0
        self._scenario_cursor = 0
        self._scenario_seen: object | None = None
        self._requests: deque[Request] = deque()
        self._points: deque[dict[str, Any]] = deque(maxlen=int(KEEP / POINT_EVERY))
        self._next_point = 0.0
        self._timeline: deque[dict[str, Any]] = deque(maxlen=TIMELINE)
        self._edges: dict[str, dict[str, Any]] = {
            name: {"name": name, "source": e.source, "target": e.target, "proxy": e.proxy, "state": "unknown",
                   "since": None, "calls": None, "fail_counter": None, "fail_max": None, "toxics": []}
            for name, e in session.system.edges.items()}
        self._units: dict[str, str] = {}
        self._threads = [threading.Thread(target=self._loop, name="feed", daemon=True),
                         threading.Thread(target=self._poll, name="feed-poll", daemon=True)]

    def start(self) -> None:
        self._compute()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop computing and wake every stream, which then ends."""
        self._stop.set()
        self.session.changed.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, after: int, timeout: float) -> tuple[int, str]:
        """The newest snapshot once it is newer than `after` (or `timeout`
        passed): (its sequence number, its JSON text)."""
        with self._cond:
            self._cond.wait_for(lambda: self.seq > after or self._stop.is_set(), timeout)
            return self.seq, self.text

    # -- computing --------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.session.changed.wait(self.tick)
            self.session.changed.clear()
            if self._stop.is_set():
                break
            try:
                self._compute()
            except Exception as e:  # noqa: BLE001 - a bad tick must not end the feed; the page shows why
                self._publish({"error": f"{type(e).__name__}: {e}"})

    def _compute(self) -> None:
        s = self.session
        now = time.time()
        self._follow()
        cutoff = now - KEEP - WINDOW
        while self._requests and self._requests[0].t_end < cutoff:
            self._requests.popleft()
        recent = [r for r in self._requests if now - WINDOW <= r.t_end < now]
        routes = {name: figures([r for r in recent if r.route == name], WINDOW) for name in s.system.routes}
        total = figures(recent, WINDOW)
        if now >= self._next_point:
            self._next_point = now + POINT_EVERY
            self._points.append({"t": round(now - s.started_at, 2), "rate": total["rate"], "ok": total["ok"],
                                 "fallback": total["fallback"], "errors": total["errors"],
                                 "routes": {n: [f["p50"], f["p99"]] for n, f in routes.items()}})
        active = [{"id": key, "label": a.label, "kind": a.kind, "description": a.description, "since": a.since}
                  for key, a in s.active.items()]
        run = s.scenario
        self._publish({
            "now": now, "started": s.started_at, "breakers": s.breakers, "runtime": s.runtime_kind,
            "entrypoint": s.system.spec.entrypoint,
            "units": {name: self._units.get(name, "unknown") for name in [TOXIPROXY, *s.system.services]},
            "edges": list(self._edges.values()), "routes": routes, "total": total,
            "points": list(self._points)[-8:], "active": active, "timeline": list(self._timeline),
            "scenario": None if run is None else {
                "name": run.name, "outcome": run.outcome, "duration": run.duration,
                "elapsed": None if run.t0 is None else round(now - run.t0, 1), "lines": run.lines[-30:],
                "verdicts": run.verdicts, "run_dir": run.run_dir},
            "stopping": s.stopping,
        })

    def history_snapshot(self) -> dict[str, Any]:
        """What a newly opened page needs beyond the latest snapshot: every chart point kept."""
        return {"points": list(self._points)}

    def _publish(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, separators=(",", ":"))
        with self._cond:
            self.seq += 1
            self.text = text
            self._cond.notify_all()

    def _follow(self) -> None:
        """Take in what the session's history (and a running scenario's) recorded since the last tick."""
        s = self.session
        new = s.history.since(self._cursor)
        self._cursor += len(new)
        for e in new:
            if isinstance(e, Request):
                self._requests.append(e)
            elif isinstance(e, BreakerInfo):
                self._breaker(e.breaker, "off" if not e.enabled or e.state == "disabled" else e.state, e.at, e.fail_max)
            elif isinstance(e, Transition):
                self._breaker(e.breaker, e.new, e.at)
                self._note(e.at, "breaker", f"{e.breaker}  {e.old} -> {e.new}")
            elif isinstance(e, FaultEvent):
                self._note(e.at, "fault", e.description if e.phase == "start" else f"ended: {e.detail or e.description}")
            elif isinstance(e, Mark) and e.name in ("scenario-start", "scenario-end", "breakers"):
                self._note(e.at, "mark", _mark_text(e))
        run = s.scenario
        if run is not None and run.history is not None:
            if run.history is not self._scenario_seen:
                self._scenario_seen, self._scenario_cursor = run.history, 0
            more = run.history.since(self._scenario_cursor)
            self._scenario_cursor += len(more)
            for e in more:
                if isinstance(e, Request):  # the scenario's load; its transitions reach the session's history too
                    self._requests.append(e)
                elif isinstance(e, FaultEvent):
                    self._note(e.at, "fault", f"{run.name}: " + (e.description if e.phase == "start" else f"ended: {e.detail}"))

    def _breaker(self, edge: str, state: str, at: float, fail_max: int | None = None) -> None:
        found = self._edges.get(edge)
        if found is None:
            return
        if found["state"] != state:
            found["state"], found["since"] = state, at
        if fail_max:
            found["fail_max"] = fail_max

    def _note(self, at: float, kind: str, text: str) -> None:
        self._timeline.append({"at": at, "t": round(at - self.session.started_at, 2), "kind": kind, "text": text})

    # -- the slow poll: agents, Toxiproxy, the runtime -------------------------------

    def _poll(self) -> None:
        http = Session()  # closes its connections: one left open holds a service at the demo's stop
        try:
            while not self._stop.wait(SLOW_POLL):
                try:
                    self._read_outside(http)
                except Exception:  # noqa: BLE001 - the next poll tries again; the page keeps the last known
                    pass
        finally:
            http.close()

    def _read_outside(self, http: requests.Session) -> None:
        s = self.session
        runtime = s.runtime
        for name in [TOXIPROXY, *s.system.services]:
            try:
                self._units[name] = runtime.status(name).value
            except Exception:  # noqa: BLE001
                self._units[name] = "unknown"
        counters: dict[str, dict[str, Any]] = {}
        for service in s.agents.services():
            if self._units.get(service) != "running":
                continue
            try:
                body = s.agents.client(service, http).breakers(timeout=(0.3, 1.0))
            except Exception:  # noqa: BLE001 - restarting, frozen: no counters this time
                continue
            for b in body["breakers"]:
                counters[_edge_of(s, service, b["name"])] = {"calls": b["calls"], "fail_counter": b["fail_counter"],
                                                             "fail_max": b["fail_max"], "enabled": body["enabled"]}
        for name, edge in self._edges.items():
            got = counters.get(name)
            edge["calls"] = got["calls"] if got else None
            edge["fail_counter"] = got["fail_counter"] if got else None
            if got and got["fail_max"]:
                edge["fail_max"] = got["fail_max"]
            try:
                edge["toxics"] = [f"{t['type']}" + (f" {t['attributes'].get('latency')} ms" if t["type"] == "latency" else "")
                                  for t in s.toxiproxy.toxics(edge["proxy"])]
                proxy = s.toxiproxy.proxy(edge["proxy"]) or {}
                if not proxy.get("enabled", True):
                    edge["toxics"].append("down")
            except Exception:  # noqa: BLE001 - Toxiproxy restarting
                edge["toxics"] = ["?"]
        s.changed.set()


def figures(reqs: list[Request], window: float) -> dict[str, Any]:
    """Rate and shares of a set of answered requests; latency p50/p99 in ms (None without requests)."""
    n = len(reqs)
    if not n:
        return {"rate": 0.0, "ok": None, "fallback": None, "errors": None, "p50": None, "p99": None, "n": 0}
    lat = [r.latency for r in reqs]
    return {"rate": round(n / window, 1), "n": n,
            "ok": round(sum(r.ok for r in reqs) / n, 3),
            "fallback": round(sum(r.fallback is not None for r in reqs) / n, 3),
            "errors": round(sum((not r.ok) and r.fallback is None for r in reqs) / n, 3),
            "p50": round(percentile(lat, 50) * 1000, 1), "p99": round(percentile(lat, 99) * 1000, 1)}


def _edge_of(session: DemoSession, service: str, breaker: str) -> str:
    for edge in session.system.spec.edges:
        if edge.source == service and edge.breaker_name == breaker:
            return edge.name
    return f"{service}:{breaker}"


def _mark_text(mark: Mark) -> str:
    d = mark.detail
    if mark.name == "breakers":
        restarted = ", ".join(d.get("restarted") or []) or "nothing"
        return f"breakers {d.get('breakers')}: restarted {restarted}"
    if mark.name == "scenario-start":
        return f"scenario {d.get('scenario')} started"
    return f"scenario {d.get('scenario')}: {d.get('outcome')}" + (f" ({d['run_dir']})" if d.get("run_dir") else "")
