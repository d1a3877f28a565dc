"""After the run: read what each sink received, for the `deliveries` check.

A route that `promises:` a message (docs/system-file.md) names the unit that
lists what arrived (`sink`), at GET /messages: `{"messages": [{"message",
"key", "outbox_id", "received_at"}, ...]}`. Once load has stopped and the
faults are reverted, this polls every such sink until each acknowledged
promise has a message or the check's bound has passed, then waits a moment
more (a second copy of a message arrives after the first) and records what
each sink listed as one `SinkRead`. A sink that cannot be read is recorded
too, with the reason: the check then says unknown, never pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from chaos.clients.http import Session
from chaos.history import History, SinkRead
from chaos.history.queries import promises
from chaos.spec.system import System

POLL = 0.5
# After the last promised message showed up: time for a doubled one to show up too.
SETTLE = 2.0


def read_sink(session: Session, url: str) -> tuple[tuple[tuple[str, str, str, float], ...] | None, str]:
    """(messages, "") from a sink's listing at `url`, or (None, why not)."""
    try:
        resp = session.get(url, timeout=5)
    except requests.RequestException as e:
        return None, f"GET {url}: {type(e).__name__}"
    if resp.status_code != 200:
        return None, f"GET {url} answered {resp.status_code}"
    try:
        listed = resp.json()["messages"]
        return tuple((str(m["message"]), str(m["key"]), str(m.get("outbox_id") or ""), float(m["received_at"]))
                     for m in listed), ""
    except (ValueError, KeyError, TypeError) as e:
        return None, f"GET {url}: not a listing of messages ({type(e).__name__}: {e})"


def collect(system: System, history: History, within: float, say: Callable[[str], None] = lambda _: None) -> int:
    """Wait (up to `within` seconds past each promise's due time) until every
    acknowledged promise has arrived at its sink, then record each sink's
    listing. Returns how many promises there were."""
    wanted = promises(history, system)
    if not wanted:
        return 0
    deadline = max(p.due_from for p in wanted) + within
    sinks = sorted({p.sink for p in wanted})
    session = Session()
    with session:
        last: dict[str, tuple[tuple[tuple[str, str, str, float], ...] | None, str]] = {}
        while True:
            last = {s: read_sink(session, system.services[s].base_url + "/messages") for s in sinks}
            arrived = {(m[0], m[1]) for listed, _ in last.values() if listed for m in listed}
            missing = [p for p in wanted if (p.message, p.key) not in arrived]
            if not missing or time.time() >= deadline:
                break
            time.sleep(POLL)
        if not missing:
            time.sleep(SETTLE)
            last = {s: read_sink(session, system.services[s].base_url + "/messages") for s in sinks}
    for sink, (listed, why) in last.items():
        history.append(SinkRead(sink, listed is not None, why or f"{len(listed or ())} messages listed", listed or (), time.time()))
    say(f"read {', '.join(sinks)}: {len(wanted) - len(missing)} of {len(wanted)} promised messages arrived")
    return len(wanted)
