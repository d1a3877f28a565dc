"""Replica events from the engine into a run's history (the swarm runtime).

A thread asks the engine for the tasks of the stack's services a few times
a second and records every task whose state changed as a `Replica` event,
stamped with the engine's own time of the change (the task's status
timestamp), with the running count then. Polling, not `docker events`: the
engine reports task state changes there only for some actions, while a
task's status always carries its latest state and when it got there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from chaos.history import History, Replica

POLL_EVERY = 0.5  # the engine answers each ask with every task; twice a second is cheap enough on two cores


def parse_time(text: str | None) -> float | None:
    """An engine timestamp (RFC 3339 with nanoseconds) as epoch seconds, or None."""
    if not text or text.startswith("0001-"):
        return None
    main, _, frac = text.rstrip("Z").partition(".")
    frac = (frac.split("+")[0].split("-")[0] + "000000")[:6]
    try:
        return datetime.fromisoformat(f"{main}.{frac}+00:00").timestamp()
    except ValueError:
        return None


class ReplicaWatcher:
    """Records every task state change of some services until stopped."""

    def __init__(self, client, services: dict[str, str], desired: Callable[[str], int], history: History):  # type: ignore[no-untyped-def]
        self.client = client
        self.services = services  # service id -> unit name
        self.desired = desired
        self.history = history
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-watcher", daemon=True)
        self._seen: dict[str, str] = {}
        self._owner: dict[str, str] = {}  # task id -> unit name, kept after a task is gone
        self.error: str | None = None

    def start(self) -> None:
        self.poll(record=False)  # what runs already is the baseline, not an event
        for name in self.services.values():
            running = sum(1 for task, state in self._seen.items() if state == "running" and self._owner.get(task) == name)
            self.history.append(Replica(name, "", None, "baseline", running, self.desired(name), time.time()))
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, after a last ask. When some asks failed, each
        service gets an "unobserved" event with the reason, so checks that
        read replica events say unknown rather than judge a gap."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.poll()  # the last changes, up to now
        except Exception as e:  # noqa: BLE001 - the engine is gone or busy: say so below
            self.error = f"{type(e).__name__}: {e}"
        if self.error:
            for name in self.services.values():
                self.history.append(Replica(name, "", None, "unobserved", -1, self.desired(name), time.time(),
                                            f"the engine's task list could not be read at times: {self.error}"))

    def _run(self) -> None:
        while not self._stop.wait(POLL_EVERY):
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - the engine was busy; keep watching, say so at the end
                self.error = f"{type(e).__name__}: {e}"

    def poll(self, record: bool = True) -> None:
        """Ask the engine once; record each task whose state changed since the last ask."""
        tasks = self.client.api.tasks()
        owner = {t["ID"]: self.services[t["ServiceID"]] for t in tasks if t.get("ServiceID") in self.services}
        self._owner.update(owner)
        states = {t["ID"]: t for t in tasks if t["ID"] in owner}
        changed = [t for tid, t in states.items() if self._seen.get(tid) != t["Status"]["State"]]
        for tid, t in states.items():
            self._seen[tid] = t["Status"]["State"]
        if not record:
            return
        for t in sorted(changed, key=lambda t: t["Status"].get("Timestamp", "")):
            name = owner[t["ID"]]
            running = sum(1 for tid, state in self._seen.items() if state == "running" and self._owner.get(tid) == name)
            at = parse_time(t["Status"].get("Timestamp")) or time.time()
            detail = t["Status"].get("Err") or t["Status"].get("Message", "")
            self.history.append(Replica(name, t["ID"][:12], t.get("Slot"), t["Status"]["State"], running, self.desired(name), at,
                                        detail))
