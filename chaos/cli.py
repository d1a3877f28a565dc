"""The `chaos` command. It parses arguments and calls the engine, nothing more.

Exit codes: 0 every check passed; 1 a check failed or could not tell;
2 bad input or a set-up failure (nothing was left running or broken);
130 interrupted (after rolling back).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from chaos.console import Console
from chaos.errors import ConfigError, SetupError
from chaos.runtime import RUNTIMES, TOXIPROXY, make_runtime
from chaos.scenario import find_scenario, list_scenarios, load_scenario
from chaos.system import System, load_system

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM (CI cancelling a job, `kill`) takes the same rollback path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console()
    try:
        return args.func(args, console)
    except (ConfigError, SetupError) as e:
        print(f"chaos: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("chaos: interrupted; faults reverted, services restored", file=sys.stderr)
        return EXIT_INTERRUPTED


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chaos", description="Chaos and resilience scenarios for Flask microservices.")
    p.add_argument("--system", type=Path, default=Path(os.environ.get("CHAOS_SYSTEM", "system.yaml")),
                   help="the system file (default: $CHAOS_SYSTEM or ./system.yaml)")
    p.add_argument("--state", type=Path, default=None, help="state folder of the local runtime (default: .chaos beside the system file)")
    p.add_argument("--runtime", default=os.environ.get("RUNTIME", "local"), choices=RUNTIMES,
                   help="where services run: local processes or docker containers (default: $RUNTIME or local)")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a scenario and judge it")
    run.add_argument("scenario", help="a scenario name (see `chaos list`) or a path to a scenario file")
    _breakers_option(run)
    run.add_argument("--keep-up", action="store_true", help="leave the system running afterwards")
    run.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                     help="where run folders go (default: reports/)")
    run.set_defaults(func=cmd_run)

    up = sub.add_parser("up", help="start Toxiproxy and every service, and leave them running")
    _breakers_option(up)
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything the toolkit started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show what runs").set_defaults(func=cmd_status)
    sub.add_parser("list", help="list the scenarios").set_defaults(func=cmd_list)
    validate = sub.add_parser("validate", help="check scenario files without running anything")
    validate.add_argument("files", nargs="*", type=Path, help="default: every scenario")
    validate.set_defaults(func=cmd_validate)
    return p


def _breakers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--breakers", choices=["on", "off"], default=os.environ.get("BREAKERS") or "on",
                   help="turn every breaker of the system on or off (default: $BREAKERS or on)")


def _system(args: argparse.Namespace) -> System:
    return load_system(args.system)


def _runtime(args: argparse.Namespace, system: System, breakers: str = "on"):  # type: ignore[no-untyped-def]
    if breakers not in ("on", "off"):
        raise ConfigError(None, None, "BREAKERS", f"must be on or off, not '{breakers}'")
    state = args.state or system.root / ".chaos"
    return make_runtime(args.runtime, system, state, {"BREAKERS": breakers})


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from chaos.runner import Runner  # imported here: `chaos list` should not pay for it

    system = _system(args)
    scenario = load_scenario(find_scenario(args.scenario, system), system)
    runtime = _runtime(args, system, args.breakers)
    console.say(f"scenario {scenario.name}: {scenario.description}")
    console.say(f"breakers {args.breakers}, runtime {args.runtime}, {scenario.duration:g} s\n")
    result = Runner(system, scenario, runtime, console, reports=args.reports).run(keep_up=args.keep_up)
    console.verdicts(result.verdicts)
    where = f"; evidence in {result.run_dir}" if result.run_dir else ""
    console.say(f"{scenario.name}: {'PASSED' if result.passed else 'FAILED'} in {result.wall_time:.1f} s{where}")
    return EXIT_PASS if result.passed else EXIT_FAIL


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    runtime = _runtime(args, system, args.breakers)
    try:
        started = runtime.up()
    except BaseException:
        runtime.down()  # nothing half-started is left behind
        raise
    console.say(f"up (breakers {args.breakers}): " + (f"started {', '.join(started)}" if started else "already running"))
    console.say(f"gateway at {system.entrypoint.base_url}, Toxiproxy at {system.spec.toxiproxy.url}")
    return EXIT_PASS


def cmd_down(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    stopped = _runtime(args, system).down()
    console.say("stopped " + ", ".join(stopped) if stopped else "nothing of ours was running")
    return EXIT_PASS


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    runtime = _runtime(args, system)
    for name in [TOXIPROXY, *system.services]:
        console.say(f"{name:<10} {runtime.status(name).value}")
    return EXIT_PASS


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    for name in list_scenarios(system):
        try:
            scenario = load_scenario(system.scenarios_dir / f"{name}.yaml", system)
            console.say(f"{name:<24} {scenario.description}")
        except ConfigError as e:
            console.say(f"{name:<24} INVALID: {str(e).splitlines()[0]}")
    return EXIT_PASS


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    files = args.files or [system.scenarios_dir / f"{n}.yaml" for n in list_scenarios(system)]
    bad = 0
    for path in files:
        try:
            load_scenario(path, system)
            console.say(f"ok       {path}")
        except ConfigError as e:
            bad += 1
            print(str(e), file=sys.stderr)
    return EXIT_USAGE if bad else EXIT_PASS
