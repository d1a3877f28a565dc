"""`chaos explore`: its arguments, and the call into the engine
(chaos.engine.explore)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from chaos.errors import ConfigError, SetupError
from chaos.ui.console import Console

EXIT_PASS, EXIT_FAIL = 0, 1


def explore_parser(sub: argparse._SubParsersAction, breakers_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `chaos explore` to the command's subparsers."""
    explore = sub.add_parser("explore", help="draw fault schedules with Hypothesis, run each for real, shrink a violation to a scenario",
                             description="Run generated fault schedules on the live stack, judge each by the system-wide "
                                         "properties, and write a violated one, shrunk, to scenarios/found/ (docs/explore.md).")
    explore.add_argument("--budget", default="10m", help="wall time for generating and shrinking, e.g. 90s or 10m (default 10m)")
    explore.add_argument("--examples", type=int, default=1000, help="at most this many generated schedules (default 1000)")
    explore.add_argument("--seed", type=int, default=None, help="Hypothesis's seed, to draw the same schedules again")
    explore.add_argument("--max-shrink-runs", type=int, default=30, help="live runs spent shrinking a violation (default 30)")
    explore.add_argument("--confirm-runs", type=int, default=2,
                         help="reruns of a first violation before shrinking it; one that never fails again is flaky (default 2)")
    breakers_option(explore)
    explore.add_argument("--out", type=Path, default=None, help="where found scenarios go (default: the scenarios folder's found/)")
    explore.add_argument("--database", type=Path, default=None,
                         help="Hypothesis's example database, which a rerun tries first (default: .chaos/explore-db beside the system file)")
    explore.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                         help="the index and every example's run folder go to REPORTS/explore/<time>-.../ (default: reports/)")
    explore.set_defaults(func=cmd_explore)


def cmd_explore(args: argparse.Namespace, console: Console) -> int:
    """Explore (see docs/explore.md); exit 0 nothing found, 1 a violation that fails again, 2 bad input."""
    from chaos.cli import _runtime, _system
    from chaos.spec.model import parse_duration

    try:
        from chaos.engine.explore import Aborted, Explorer, ExploreOptions
    except ImportError as e:
        raise SetupError(f"chaos explore needs Hypothesis ({e.name} is missing): pip install 'flask-chaos[explore]'") from None
    try:
        budget = parse_duration(args.budget)
    except ValueError as e:
        raise ConfigError(None, None, "--budget", f"{e}, not '{args.budget}'") from None
    for flag, value in (("--examples", args.examples), ("--max-shrink-runs", args.max_shrink_runs), ("--confirm-runs", args.confirm_runs)):
        if value < 0 or (flag == "--examples" and value < 1):
            raise ConfigError(None, None, flag, f"must be {'1' if flag == '--examples' else '0'} or more, not {value}")
    if args.runtime != "local":
        raise ConfigError(None, None, "--runtime", "chaos explore runs on the local runtime only (each example sets its services' env)")
    system = _system(args)
    options = ExploreOptions(budget=budget, examples=args.examples, seed=args.seed, max_shrink_runs=args.max_shrink_runs,
                             breakers=args.breakers, runtime=args.runtime, out=args.out, reports=args.reports,
                             database=args.database, confirm_runs=args.confirm_runs)
    explorer = Explorer(system, options, console, lambda s: _runtime(args, s, args.breakers))
    console.say(f"exploring {system.name} with breakers {args.breakers} for at most {budget:g} s and {args.examples} examples"
                + (f", seed {args.seed}" if args.seed is not None else "") + f"; kinds: {', '.join(explorer.catalogue.kinds)}")
    try:
        result = explorer.run()
    except Aborted as e:
        raise SetupError(f"explore stopped: {e}") from None
    for line in result.summary:
        console.say(line)
    return EXIT_PASS if result.passed else EXIT_FAIL
