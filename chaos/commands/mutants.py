"""`chaos mutants`: its arguments, and the call into the engine
(chaos.engine.mutants)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from chaos.ui.console import Console

EXIT_PASS, EXIT_FAIL = 0, 1


def mutants_parser(sub: argparse._SubParsersAction, breakers_option: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `chaos mutants` to the command's subparsers (it runs scenarios as they are: no --breakers)."""
    mutants = sub.add_parser("mutants", help="apply each catalogued bug to a scratch copy and show which scenario catches it",
                             description="Mutation score of the scenario library: see chaos/engine/mutants.py.")
    mutants.add_argument("catalogue", type=Path, nargs="?", default=None,
                         help="the catalogue file (default: services/mutants/catalogue.yaml beside the system file)")
    mutants.add_argument("--repeat", type=int, default=3, help="runs of each expected scenario per mutant, and of the baseline (default 3)")
    mutants.add_argument("--only", action="append", default=[], metavar="NAME", help="only this mutant (repeat)")
    mutants.add_argument("--no-baseline", action="store_true", help="skip the unpatched runs (a catch is then not shown to be the mutant's)")
    mutants.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                         help="results go to REPORTS/mutants/<time>/ (default: reports/)")
    mutants.set_defaults(func=cmd_mutants)


def cmd_mutants(args: argparse.Namespace, console: Console) -> int:
    from chaos.engine.mutants import mutation_score
    from chaos.spec import load_system

    system = load_system(args.system)  # each run moves the ports itself
    catalogue = args.catalogue or system.path.parent / "services" / "mutants" / "catalogue.yaml"
    offset = "auto" if str(args.port_offset) == "0" else str(args.port_offset)
    passed = mutation_score(system, catalogue, repeat=args.repeat, only=args.only, reports=args.reports,
                            port_offset=offset, baseline=not args.no_baseline, say=console.say)
    return EXIT_PASS if passed else EXIT_FAIL
