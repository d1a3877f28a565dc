"""Watching the services' breakers while a scenario runs, through their agents.

One thread per service that declares an agent long-polls its transitions
endpoint (chaos.agent's contract), which answers as soon as a breaker changes
state, so a transition is in the history within milliseconds of happening,
stamped with the service's own clock. When a service restarts (a new boot
id), its breakers are read afresh.

What could not be seen is recorded too (an `Observation` per service): an
agent that is missing, switched off, or answers outside the contract, and an
edge whose breaker the agent does not watch. Breaker checks then say unknown
with that reason instead of judging a breaker nobody saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from chaos.clients.agent import Agents, ContractError
from chaos.clients.http import Session
from chaos.history import BreakerInfo, BreakerStats, History, Observation, Transition, WorkerViews
from chaos.spec.system import System

# Seconds an agent may hold a long poll. Short, so stopping the watcher costs
# at most this; a transition still wakes the poll at once.
POLL_WAIT = 0.25
# Seconds between reads of every worker's view, for a service whose agent
# reports several workers (gunicorn -w 4); single-process services are not read again.
VIEWS_EVERY = 1.0


class BreakerWatcher:
    """Records every breaker transition of every service that has an agent."""

    def __init__(self, system: System, history: History, on_transition: Callable[[Transition], None] | None = None,
                 agents: Agents | None = None):
        self.system = system
        self.history = history
        self.agents = agents or Agents(system)
        self.on_transition = on_transition or (lambda t: None)
        self._stop = threading.Event()
        self._services = self.agents.services()
        self._threads = [threading.Thread(target=self._watch, args=(name,), name=f"watch-{name}", daemon=True)
                         for name in self._services]
        self._seen = {name: threading.Event() for name in self._services}
        self._problem: dict[str, str] = {}
        self._many: dict[str, bool] = {}  # service -> whether its agent reported several workers

    def start(self, wait: float = 5.0) -> None:
        """Start watching; returns once every agent has answered once (or `wait`
        passed). Each service gets an Observation: seen, or why not."""
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + wait
        for name in self._services:
            if not self._seen[name].wait(max(0.0, deadline - time.monotonic())):
                why = self._problem.get(name, f"no answer within {wait:g} s")
                self.history.append(Observation(name, False, f"{name}'s agent could not be read: {why}", time.time()))

    def stop(self) -> None:
        """Stop watching, at once; safe before start (a run interrupted in its
        set-up rolls back through here). A poll still in flight is not waited
        for: its thread records nothing more and ends when the poll returns
        (within POLL_WAIT), closing its connection."""
        self._stop.set()

    def final_stats(self) -> list[BreakerStats]:
        """Ask every agent for its breakers once more and record a BreakerStats
        per breaker (settings, counters, recent call latency); returns them.
        A service whose agent does not answer, or answers outside the
        contract, gets nothing recorded: never an exception, because the run's
        verdicts do not depend on it."""
        found: list[BreakerStats] = []
        for service in self._services:
            session = Session()
            try:
                body = self.agents.client(service, session).breakers(timeout=(0.3, 2))
            except Exception:  # noqa: BLE001 - down, frozen, no agent, outside the contract: no evidence, no harm
                continue
            finally:
                session.close()
            now = time.time()
            self._record_workers(service, body, now)
            for b in body["breakers"]:
                stats = BreakerStats(self.breaker_id(service, b["name"]), b["state"], b["fail_max"], b["reset_timeout"],
                                     dict(b["calls"]), dict(b["failures_by_reason"]), b.get("latency"), body["enabled"], now)
                self.history.append(stats)
                found.append(stats)
        return found

    def breaker_id(self, service: str, name: str) -> str:
        """gateway's breaker 'orders' is the breaker of edge 'gateway->orders'."""
        for edge in self.system.spec.edges:
            if edge.source == service and edge.breaker_name == name:
                return edge.name
        return f"{service}:{name}"

    def _watch(self, service: str) -> None:
        session = Session()
        client = self.agents.client(service, session)
        boot, after = None, 0
        views_at = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if boot and self._many.get(service) and time.monotonic() - views_at >= VIEWS_EVERY:
                        # Several workers: what each one's breaker says now, so a
                        # worker that never moved is still seen (and one that never
                        # published is known as such).
                        views_at = time.monotonic()
                        views = client.breakers(timeout=(0.3, 2))
                        if not self._stop.is_set():
                            self._record_workers(service, views, time.time())
                    body = client.transitions(after, POLL_WAIT if boot else 0, timeout=(0.3, POLL_WAIT + 2))
                    if body["boot_id"] != boot:
                        first = boot is None
                        boot = body["boot_id"]
                        self._snapshot(client, service, first)
                        # First sight: what happened before we watched is not this run's.
                        # A restarted process: every transition it has is new, ask again from 0.
                        after = body["last_seq"] if first else 0
                        continue
                    seen = time.time()
                    for t in body["transitions"]:
                        if t["seq"] <= after or self._stop.is_set():
                            continue
                        event = Transition(self.breaker_id(service, t["breaker"]), t["from"] or "closed", t["to"], t["at"], seen,
                                           t.get("pid"))
                        self.history.append(event)
                        self.on_transition(event)
                        after = t["seq"]
                except ContractError as e:
                    self._problem[service] = str(e)
                    self._stop.wait(0.2)  # a wrong answer will not right itself at once
                except requests.RequestException as e:
                    self._problem[service] = f"{type(e).__name__} at {client.url}"
                    self._stop.wait(0.05)  # down, paused or restarting: try again soon
        finally:
            session.close()

    def _snapshot(self, client, service: str, first: bool) -> None:  # type: ignore[no-untyped-def]
        body = client.breakers(timeout=(0.3, 2))
        if self._stop.is_set():
            return
        now = time.time()
        self._record_workers(service, body, now)
        names = [b["name"] for b in body["breakers"]]
        for b in body["breakers"]:
            self.history.append(BreakerInfo(self.breaker_id(service, b["name"]), b["state"], b["fail_max"] or 0,
                                            b["reset_timeout"] or 0.0, body["enabled"], now))
        if first:
            missing = [e for e in self.system.spec.edges if e.source == service and e.breaker_name not in names]
            detail = f"contract {body['contract']}, breakers {', '.join(names) or 'none'}"
            if missing:
                wanted = ", ".join(f"'{e.breaker_name}' ({e.name})" for e in missing)
                detail += f"; no breaker named {wanted}: watch it with agent.watch(), or set the edge's breaker: to its name"
            pids = body.get("worker_pids") or [w["pid"] for w in body.get("workers", [])]
            if len(pids) > 1:
                detail += f"; {len(pids)} worker processes (pids {', '.join(map(str, pids))})"
            self.history.append(Observation(service, True, detail, now))
            self._seen[service].set()

    def _record_workers(self, service: str, body: dict, at: float) -> None:  # type: ignore[type-arg]
        """Each worker's view of each breaker, as the agent reported them (an
        agent before per-worker views reports none: nothing is recorded)."""
        workers = body.get("workers")
        if workers is None:
            return
        views = tuple((self.breaker_id(service, b["name"]), w["pid"], b["state"]) for w in workers for b in w["breakers"])
        live = body.get("worker_pids")
        self._many[service] = len(workers) > 1 or (live is not None and len(live) > 1)
        self.history.append(WorkerViews(service, views, tuple(live) if live is not None else None, at))
