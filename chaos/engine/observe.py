"""Watching the services' breakers while a scenario runs.

One thread per service long-polls its /breakers/transitions endpoint, which
answers as soon as a breaker changes state, so a transition is in the history
within milliseconds of happening, stamped with the service's own clock. When
a service restarts (a new boot id), its new breakers are read afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

from chaos.history import BreakerInfo, History, Transition
from chaos.spec.system import System

POLL_WAIT = 1.0  # seconds the service may hold a long poll


class BreakerWatcher:
    """Records every breaker transition of every service that exposes its breakers."""

    def __init__(self, system: System, history: History, on_transition: Callable[[Transition], None] | None = None):
        self.system = system
        self.history = history
        self.on_transition = on_transition or (lambda t: None)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(name,), name=f"watch-{name}", daemon=True)
            for name, spec in system.services.items()
            if spec.breakers
        ]
        self._seen_boot: dict[str, threading.Event] = {name: threading.Event() for name in system.services}

    def start(self, wait: float = 5.0) -> None:
        """Start watching; returns once every service has been seen once (or `wait` passed)."""
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + wait
        for t in self._threads:
            self._seen_boot[t.name.removeprefix("watch-")].wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop watching; safe before start (a run interrupted in its set-up rolls back through here)."""
        self._stop.set()
        for t in self._threads:
            if t.ident is not None:  # joining a thread never started raises
                t.join(timeout=POLL_WAIT + 3)

    def breaker_id(self, service: str, name: str) -> str:
        """gateway's breaker 'orders' is the breaker of edge 'gateway->orders'."""
        for edge in self.system.spec.edges:
            if edge.source == service and edge.breaker_name == name:
                return edge.name
        return f"{service}:{name}"

    def _watch(self, service: str) -> None:
        spec = self.system.services[service]
        base = spec.base_url + (spec.breakers or "/breakers")
        session = requests.Session()
        boot, after = None, 0
        while not self._stop.is_set():
            try:
                resp = session.get(
                    f"{base}/transitions", params={"after": after, "wait": POLL_WAIT if boot else 0}, timeout=(0.3, POLL_WAIT + 2)
                )
                resp.raise_for_status()
                body = resp.json()
                if body["boot_id"] != boot:
                    first = boot is None
                    boot = body["boot_id"]
                    self._snapshot(session, base, service)
                    self._seen_boot[service].set()
                    # First sight: what happened before we watched is not this run's.
                    # A restarted process: every transition it has is new, ask again from 0.
                    after = body["last_seq"] if first else 0
                    continue
                seen = time.time()
                for t in body["transitions"]:
                    if t["seq"] <= after:
                        continue
                    event = Transition(self.breaker_id(service, t["breaker"]), t["from"], t["to"], t["at"], seen)
                    self.history.append(event)
                    self.on_transition(event)
                    after = t["seq"]
            except (requests.RequestException, ValueError, KeyError):
                self._stop.wait(0.05)  # down, paused or restarting: try again soon

    def _snapshot(self, session: requests.Session, base: str, service: str) -> None:
        body = session.get(base, timeout=(0.3, 2)).json()
        now = time.time()
        for b in body["breakers"]:
            self.history.append(
                BreakerInfo(self.breaker_id(service, b["name"]), b["state"], b["fail_max"], b["reset_timeout"], body["enabled"], now)
            )
