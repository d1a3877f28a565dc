"""The `chaos` command. It parses arguments and calls the engine, nothing more.

Exit codes: 0 every check passed; 1 a check failed or could not tell;
2 bad input or a set-up failure (nothing was left running or broken);
130 interrupted (after rolling back).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from chaos.checks import outcome
from chaos.commands.demo import demo_parser
from chaos.commands.explore import explore_parser
from chaos.commands.mutants import mutants_parser
from chaos.ui.console import Console
from chaos.errors import ConfigError, SetupError
from chaos.runtime import RUNTIMES, TOXIPROXY, runtime_for
from chaos.spec.options import RunOptions
from chaos.spec.scenario import find_scenario, list_scenarios, load_scenario, user_env
from chaos.spec import load_system
from chaos.spec.system import System

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    # SIGTERM (CI cancelling a job, `kill`) takes the same rollback path as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    # Python leaves SIGINT ignored when the parent ignored it (`cmd &` in a
    # script, some CI agents); a SIGINT meant to cancel the run must still roll back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    console = Console()
    try:
        return args.func(args, console)
    except (ConfigError, SetupError) as e:
        print(f"chaos: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        # A run says what its rollback did; other commands have no faults to revert.
        outcome = getattr(e, "outcome", None)
        print(f"chaos: interrupted; {outcome}" if outcome else "chaos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> NoReturn:
    """The `chaos` command: `main`, then exit at once. Everything the command
    writes is written and flushed by then; what is left is freeing a run's
    history object by object at interpreter exit (0.2 s after a 30 s run),
    which the user would only wait for."""
    os._exit(execute())


def execute() -> int:
    """`main`, with its output flushed: the exit code (chaos.server's child exits with it too)."""
    try:
        code = main()
    except BrokenPipeError:  # `chaos list | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    finally:
        from chaos.launcher import discard

        discard()  # a launcher started for a run that never started its services (a bad file, an error)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone (a pipe whose reader left): nothing more to say
            pass
    return code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chaos", description="Chaos and resilience scenarios for Flask microservices.")
    p.add_argument("--system", type=Path, default=Path(os.environ.get("CHAOS_SYSTEM", "system.yaml")),
                   help="the system file (default: $CHAOS_SYSTEM or ./system.yaml)")
    p.add_argument("--state", type=Path, default=None,
                   help="state folder of the local runtime (default: .chaos beside the system file; .chaos/offset-N with a port offset)")
    p.add_argument("--port-offset", default=os.environ.get("CHAOS_PORT_OFFSET") or "0", metavar="N|auto",
                   help="move every port of the system by N (local and swarm runtimes), so runs side by side do not collide; "
                        "auto picks a free offset (default: $CHAOS_PORT_OFFSET or 0)")
    p.add_argument("--runtime", default=os.environ.get("RUNTIME", "local"), choices=RUNTIMES,
                   help="where services run: local processes, docker containers or a swarm stack (default: $RUNTIME or local)")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run a scenario and judge it")
    run.add_argument("scenario", help="a scenario name (see `chaos list`) or a path to a scenario file")
    _breakers_option(run)
    run.add_argument("--keep-up", action="store_true", help="leave the system running afterwards")
    run.add_argument("--dry-run", action="store_true", help="validate and show the plan; start nothing")
    _param_option(run)
    run.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                     help="where run folders go (default: reports/)")
    run.set_defaults(func=cmd_run)

    describe = sub.add_parser("describe", help="what a scenario will do, in order, and what it will check")
    describe.add_argument("scenario")
    _param_option(describe)
    describe.set_defaults(func=cmd_describe)
    sub.add_parser("reset", help="restore a clean system: no toxics, every service up, every breaker closed").set_defaults(func=cmd_reset)
    nightly = sub.add_parser("nightly", help="run every scenario REPEAT times; combined JUnit XML, index page, changes")
    nightly.add_argument("scenarios", nargs="*", help="default: every scenario")
    nightly.add_argument("--repeat", type=int, default=os.environ.get("REPEAT") or "1", help="runs of each scenario (default: $REPEAT or 1)")
    _breakers_option(nightly)
    nightly.add_argument("--reports", type=Path, default=Path(os.environ.get("CHAOS_REPORTS", "reports")),
                         help="results go to REPORTS/nightly/<time>/ (default: reports/)")
    nightly.set_defaults(func=cmd_nightly)

    explore_parser(sub, _breakers_option)
    mutants_parser(sub, _breakers_option)
    demo_parser(sub, _breakers_option)

    up = sub.add_parser("up", help="start Toxiproxy and every service, and leave them running")
    _breakers_option(up)
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop everything the toolkit started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show what runs").set_defaults(func=cmd_status)
    sub.add_parser("list", help="list the scenarios").set_defaults(func=cmd_list)
    setup = sub.add_parser("setup", help="build Toxiproxy's server with Go into the toolkit's tools folder")
    setup.add_argument("--into", type=Path, default=None, help="the folder to put toxiproxy-server in (default: the tools folder)")
    setup.set_defaults(func=cmd_setup)
    init = sub.add_parser("init", help="write a starter system file, proxy list and first scenario, ready to edit",
                          description="Write system.yaml, proxies.json and scenarios/<callee>-down.yaml into --dir, "
                                      "from flags and/or a compose file. Then: chaos --system DIR/system.yaml validate.")
    init.add_argument("--service", action="append", default=[], metavar="NAME=PORT", help="a service and the port it listens on (repeat)")
    init.add_argument("--edge", action="append", default=[], metavar="CALLER->CALLEE", help="one service calls another (repeat)")
    init.add_argument("--entry", default=None, help="the service load is sent to (default: the first service nobody calls)")
    init.add_argument("--route", action="append", default=[], metavar="NAME=/PATH", help="a route of the entrypoint to load (repeat)")
    init.add_argument("--compose", type=Path, default=None, help="read services (published ports) and edges (depends_on) from a compose file")
    init.add_argument("--name", default=None, help="the system's name (default: the folder's)")
    init.add_argument("--dir", type=Path, default=Path("."), help="where to write the files (default: here)")
    init.add_argument("--toxiproxy-port", type=int, default=None, help="Toxiproxy's API port (default 8474)")
    init.add_argument("--proxy-base", type=int, default=None, help="the first proxy listen port (default: Toxiproxy's port + 1000)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(func=cmd_init)
    advise = sub.add_parser("advise", help="advice on each edge's read timeout, fail_max and reset timeout from a run's evidence",
                            description="Read a run folder (history.jsonl, run.json and the system file the run used; "
                                        "--system when run.json does not name one that exists) and advise per edge, "
                                        "citing the figures each line stands on.")
    advise.add_argument("run_dir", type=Path, help="a run folder, reports/<time>-<scenario>-<run id>/")
    advise.add_argument("--json", action="store_true", help="print the advice as JSON, for machines")
    advise.set_defaults(func=cmd_advise)
    validate = sub.add_parser("validate", help="check scenario files without running anything")
    validate.add_argument("files", nargs="*", type=Path, help="default: every scenario")
    validate.set_defaults(func=cmd_validate)
    return p


def _breakers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--breakers", choices=["on", "off"], default=os.environ.get("BREAKERS") or "on",
                   help="turn every breaker of the system on or off (default: $BREAKERS or on)")


def _param_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a scenario parameter (also NAME=VALUE in the environment, e.g. make chaos ... LATENCY_MS=5000)")


def _params(args: argparse.Namespace, scenario: Path | None = None) -> dict[str, str]:
    out = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            # Named with the scenario it was meant for, as every other refusal is.
            raise ConfigError(scenario, None, "--param", f"expected NAME=VALUE, got '{item}'")
        out[name.strip()] = value
    return out


def _scenario(args: argparse.Namespace, system: System):  # type: ignore[no-untyped-def]
    path = find_scenario(args.scenario, system)
    return load_scenario(path, system, _params(args, path), user_env())


def _system(args: argparse.Namespace) -> System:
    """The system file, with its ports moved when --port-offset asks (once per command)."""
    from chaos.spec.ports import free_offset, shifted

    system = load_system(args.system)
    raw = str(args.port_offset).strip()
    if raw in ("", "0"):
        return system
    if args.runtime == "docker":
        raise ConfigError(None, None, "--port-offset", f"works on the local runtime only: the {args.runtime} runtime takes its ports from its compose file")
    if raw == "auto":
        offset = free_offset(system)
    elif raw.isdigit():
        offset = int(raw)
    else:
        raise ConfigError(None, None, "--port-offset", f"expected a number or auto, not '{raw}'")
    moved = shifted(system, offset)
    args.port_offset = str(offset)  # later calls in this command move it the same way
    return moved


def _runtime(args: argparse.Namespace, system: System, breakers: str = "on"):  # type: ignore[no-untyped-def]
    return runtime_for(system, args.runtime, breakers, args.state)


def _warn_blind(scenario, system: System, say) -> None:  # type: ignore[no-untyped-def]
    for line in scenario.blind_spots(system):
        say(f"warning: {line}")


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from chaos.engine.runner import Runner, warm_up  # imported here: `chaos list` should not pay for it

    system = _system(args)
    scenario = _scenario(args, system)
    scenario.check_runtime(args.runtime)
    system = scenario.system_for(system)  # its services' settings (system: block), if any
    runtime = _runtime(args, system, args.breakers)
    _warn_budget(system, console.say)
    _warn_blind(scenario, system, console.say)
    if args.dry_run:
        for line in scenario.plan(system):
            console.say(line)
        console.say(f"\ndry run: valid; would run with breakers {args.breakers} on the {args.runtime} runtime; nothing started")
        return EXIT_PASS
    warm_up()  # only for a valid scenario that will run: a refused one exits at once
    console = _console_for(scenario, args, console)
    # Built before the first line, which changes nothing: a Ctrl-C after that
    # line finds the runner's rollback in place.
    runner = Runner(system, scenario, runtime, console, reports=args.reports, options=RunOptions(args.breakers, args.runtime))
    console.say(f"scenario {scenario.name}: {scenario.description}")
    moved = f", every port +{system.port_offset} (entrypoint {system.entrypoint.base_url})" if system.port_offset else ""
    console.say(f"breakers {args.breakers}, runtime {args.runtime}, {scenario.duration:g} s{moved}\n")
    try:
        result = runner.run(keep_up=args.keep_up)
        console.verdicts(result.verdicts)
    finally:
        console.close()
    where = f"; evidence in {result.run_dir}, report {result.run_dir / 'report.html'}" if result.run_dir else ""
    console.say(f"{scenario.name}: {outcome(result.verdicts)} in {result.wall_time:.1f} s{where}")
    return EXIT_PASS if result.passed else EXIT_FAIL


def cmd_describe(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    for line in _scenario(args, system).plan(system):
        console.say(line)
    return EXIT_PASS


def cmd_reset(args: argparse.Namespace, console: Console) -> int:
    from chaos.engine.restore import restore
    from chaos.clients.toxiproxy import Toxiproxy

    system = _system(args)
    runtime = _runtime(args, system, os.environ.get("BREAKERS") or "on")
    done = restore(system, runtime, Toxiproxy(system.spec.toxiproxy.url), breakers=True, say=console.say)
    for line in done.lines() or ["already clean"]:
        console.say(line)
    console.say("clean: every service up, no toxics, every breaker closed")
    return EXIT_PASS

def _console_for(scenario, args: argparse.Namespace, plain: Console):  # type: ignore[no-untyped-def]
    """A terminal gets the live view; a pipe or a CI log gets plain lines."""
    if not sys.stdout.isatty():
        return plain
    from chaos.ui.live import LiveConsole

    return LiveConsole.for_scenario(scenario, f"breakers {args.breakers}, runtime {args.runtime}")


def cmd_nightly(args: argparse.Namespace, console: Console) -> int:
    from chaos.engine.nightly import Nightly, scenario_runner, stack_kept_up

    if args.repeat < 1:
        raise ConfigError(None, None, "REPEAT", f"must be 1 or more, not {args.repeat}")
    system = _system(args)
    runtime = _runtime(args, system, args.breakers)
    names = [n for n in args.scenarios or list_scenarios(system) if args.scenarios or _runs_on(n, system, args.runtime, console)]
    options = RunOptions(args.breakers, args.runtime)
    run_one = scenario_runner(system, runtime, lambda scenario: _console_for(scenario, args, console), options)
    with stack_kept_up(runtime, [TOXIPROXY, *system.services]):
        summary = Nightly(names, args.repeat, run_one, args.reports / "nightly", console.say,
                          breakers=options.breakers, runtime=options.runtime).run()
    return EXIT_PASS if summary["passed"] else EXIT_FAIL


def _runs_on(name: str, system: System, runtime: str, console: Console) -> bool:
    """Whether the nightly should run `name` on `runtime`: a scenario whose
    faults this runtime cannot inject is left out, saying so; a broken file is
    kept, so the nightly shows it red."""
    try:
        scenario = load_scenario(find_scenario(name, system), system, env=user_env())
    except ConfigError:
        return True
    try:
        scenario.check_runtime(runtime)
    except ConfigError as e:
        console.say(f"skipping {name}: {e.message}")
        return False
    return True


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    runtime = _runtime(args, system, args.breakers)
    # A warm server for the runs to come (chaos.server), importing while the stack starts.
    state = str(runtime.state_dir) if args.runtime == "local" and os.environ.get("CHAOS_WARM", "on") != "off" else None
    from chaos import server

    why_not = server.unavailable(state) if state else None
    if why_not:
        console.say(f"warm server off: {why_not}; runs import the toolkit themselves")
        state = None
    warm = server.spawn(state) if state else None
    try:
        started = runtime.up()
    except BaseException:
        runtime.down()  # nothing half-started is left behind (the server too: LocalRuntime.down)
        raise
    console.say(f"up (breakers {args.breakers}): " + (f"started {', '.join(started)}" if started else "already running"))
    console.say(f"gateway at {system.entrypoint.base_url}, Toxiproxy at {system.spec.toxiproxy.url}")
    if state and not server.ready(state, warm):
        console.say(f"warning: the warm server did not start (see {Path(state) / 'logs' / 'cli-server.log'}); runs import the toolkit themselves")
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


def _scenarios_folder(system: System) -> None:
    """ConfigError when the system file's scenarios folder is missing: an empty
    listing would look like a library with nothing in it."""
    if not system.scenarios_dir.is_dir():
        raise ConfigError(system.path, None, "scenarios",
                          f"no scenarios folder at {system.scenarios_dir} (set scenarios: in the system file, or run `chaos init`)")


def cmd_setup(args: argparse.Namespace, console: Console) -> int:
    from chaos.tools import TOXIPROXY_SERVER, install_toxiproxy, tools_dir

    folder = args.into or tools_dir()
    try:
        dest = install_toxiproxy(folder / TOXIPROXY_SERVER, say=console.say)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        raise SetupError(str(e)) from None
    console.say(f"toxiproxy-server is at {dest}")
    return EXIT_PASS


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    from chaos.spec import starter

    base = starter.from_compose(args.compose) if args.compose else None
    name = args.name if args.name is not None else (None if base else starter.as_name(args.dir.resolve().name))
    start = starter.from_flags(base, services=args.service, edges=args.edge, entry=args.entry, routes=args.route, name=name,
                               toxiproxy_port=args.toxiproxy_port, proxy_base=args.proxy_base)
    for path in starter.write(start, args.dir, force=args.force):
        console.say(f"wrote {path}")
    console.say(f"next: edit the lines marked EDIT, then chaos --system {args.dir / starter.SYSTEM_FILE} validate")
    return EXIT_PASS


def cmd_advise(args: argparse.Namespace, console: Console) -> int:
    import json

    from chaos.report.advise import advise_run, as_json, lines

    info, found = advise_run(args.run_dir, args.system)
    if args.json:
        console.say(json.dumps(as_json(info, found), indent=2))
    else:
        for line in lines(found):
            console.say(line)
    return EXIT_PASS


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    _scenarios_folder(system)
    for name in list_scenarios(system):
        try:
            scenario = load_scenario(system.scenarios_dir / f"{name}.yaml", system)
            needs = scenario.needs(args.runtime)
            console.say(f"{name:<24} {scenario.duration:>4g} s  {scenario.summary}" + (f"  [{needs}]" if needs else ""))
        except ConfigError as e:
            console.say(f"{name:<24} INVALID: {str(e).splitlines()[0]}")
    return EXIT_PASS


def _warn_budget(system: System, say) -> None:  # type: ignore[no-untyped-def]
    from chaos.spec.budget import timeout_budget

    for warning in timeout_budget(system):
        say(f"warning: {warning}")


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    system = _system(args)
    _warn_budget(system, lambda line: print(line, file=sys.stderr))
    if not args.files:
        _scenarios_folder(system)
    files = args.files or [system.scenarios_dir / f"{n}.yaml" for n in list_scenarios(system)]
    if not files:
        raise ConfigError(system.scenarios_dir, None, None, "no scenario files (*.yaml) here")
    bad = 0
    for path in files:
        try:
            scenario = load_scenario(path, system)
            console.say(f"ok       {path}")
            _warn_blind(scenario, system, lambda line: print(line, file=sys.stderr))
        except ConfigError as e:
            bad += 1
            print(str(e), file=sys.stderr)
    return EXIT_USAGE if bad else EXIT_PASS
