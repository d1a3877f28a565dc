"""`chaos demo`: its arguments, and the call into the dashboard
(chaos.dashboard)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from chaos.errors import ConfigError, SetupError
from chaos.ui.console import Console

EXIT_PASS = 0


def demo_parser(sub: argparse._SubParsersAction, breakers_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `chaos demo` to the command's subparsers."""
    demo = sub.add_parser("demo", help="the system under steady load with a live dashboard in the browser, fault buttons included",
                          description="Bring the system up under steady load and serve a live dashboard on 127.0.0.1 "
                                      "(the URL is printed; no browser is opened). Stop with its Stop button, Ctrl-C or "
                                      "SIGTERM: every fault is reverted and what the demo started is stopped.")
    demo.add_argument("--port", type=int, default=int(os.environ.get("CHAOS_DEMO_PORT") or 8090),
                      help="the dashboard's port on 127.0.0.1; 0 picks a free one (default: $CHAOS_DEMO_PORT or 8090)")
    demo.add_argument("--rate", type=float, default=30.0, help="steady load in requests per second (default 30)")
    breakers_option(demo)
    demo.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                      help="where 'save as report' and scenarios run from the page write run folders (default: reports/)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from chaos.cli import _runtime, _system
    from chaos.dashboard import run_demo

    if not 0 <= args.port <= 65535:
        raise ConfigError(None, None, "--port", f"must be 0..65535, not {args.port}")
    if not 0 < args.rate <= 1000:
        raise ConfigError(None, None, "--rate", f"must be over 0 and at most 1000 req/s, not {args.rate:g}")
    system = _system(args)
    _runtime(args, system, args.breakers)  # refuses breakers off without agents before anything starts
    try:
        notes = run_demo(system, args.runtime, args.state, args.port, args.rate, args.breakers, args.reports, console.say)
    except OSError as e:  # the dashboard's port is taken: refused before anything started
        raise SetupError(f"cannot serve the dashboard on 127.0.0.1:{args.port}: {e.strerror or e}") from None
    for line in notes:
        console.say(line)
    console.say("demo over: every fault reverted, services restored")
    return EXIT_PASS
