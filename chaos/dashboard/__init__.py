"""The live demo dashboard: `chaos demo` / `make demo`.

The system runs under steady load while a page in the browser shows each
edge in its breaker's live state, the request rate, success and fallback
shares and latency per route, and lets a presenter break things with the
fault catalogue (and roll them back), switch breakers off to show the
cascade, run a scenario of the library and save the session as a run folder.

- `controls`  the buttons that fit the system, each one fault of the registry;
- `session`   the engine side: up, load, watcher, actions, rollback;
- `feed`      one shared live state, computed a few times a second;
- `server`    the page, the state as Server-Sent Events, the guarded POSTs;
- `static/`   the page itself: plain HTML, CSS, JavaScript and SVG.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from chaos.spec.system import System

__all__ = ["run_demo"]


def run_demo(system: System, runtime_kind: str, state_dir: Path | None, port: int, rate: float, breakers: str,
             reports: Path, say: Callable[[str], None]) -> list[str]:
    """Bring the system up under load, serve the dashboard on 127.0.0.1:`port`
    (0: a free one) and block until the stop button, Ctrl-C or SIGTERM; then
    roll everything back. Returns what the rollback did, in words.
    SetupError if the system cannot be brought up (nothing is left running)."""
    from chaos.dashboard.feed import Feed
    from chaos.dashboard.server import DashboardServer
    from chaos.dashboard.session import DemoSession

    session = DemoSession(system, runtime_kind, state_dir, rate, breakers, reports, say)
    feed = Feed(session)
    # Bound first: a taken port is refused before anything is started.
    server = DashboardServer(session, feed, port, token=os.environ.get("CHAOS_DEMO_TOKEN"))
    try:
        say("starting Toxiproxy and services (if not running), then the load")
        session.start()
        feed.start()
        server.start()
        moved = f", every port +{system.port_offset}" if system.port_offset else ""
        say(f"dashboard at {server.url}  ({rate:g} req/s to {system.entrypoint.base_url}, breakers {breakers}{moved})")
        say("stop with the page's Stop button, Ctrl-C or SIGTERM: every fault is reverted and what the demo started is stopped")
        try:
            session.serve()
        except KeyboardInterrupt:
            pass  # Ctrl-C and SIGTERM are how a demo ends: the rollback below is its normal way out
    finally:
        notes = session.close()
        server.stop()
    return notes
