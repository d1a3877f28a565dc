"""`make bench-overhead`: what a run costs beyond its scenario.

A scenario's own time is its duration plus the read-back of acknowledged
writes (both in the run's history: load-start to load-stop, then the last
read-back). The run costs the whole `chaos run` command, from the shell's
point of view: interpreter start, set-up, the scenario, rollback, verdicts,
the run folder and report, and stopping what it started. The ratio of the two
is the run's overhead:

- warm: the stack is already up (`chaos up`), the run keeps it up;
- cold: nothing runs; the run starts everything and stops it again.

And the floor under cold: the stack's own start and stop, timed inside one
process that has imported the toolkit already (the local runtime's `up`
until every unit answers its health check, then its `down`), with no run
in between; the services' launcher starts before those imports, as a run
starts it. A cold run cannot cost less than its scenario plus that; what
it costs beyond is the run's own.

Each is min / median / max over REPEATS runs of one scenario, with the
scenario's own time as the baseline measured in the same run.

    python -m bench.overhead [--repeats 3] [--scenario order-down]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.history import History, Mark, ReadBack

ROOT = Path(__file__).resolve().parent.parent


def python(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """This interpreter with `args`, in the project, with its Toxiproxy on the PATH."""
    env = {**os.environ, "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def chaos(*args: str) -> subprocess.CompletedProcess:
    return python("-m", "chaos", *args)


def scenario_time(run_dir: Path) -> float:
    """Duration plus read-back, from the run's own history."""
    history = History.read_jsonl(run_dir / "history.jsonl")
    start = next(m.at for m in history.of(Mark) if m.name == "load-start")
    stop = next(m.at for m in history.of(Mark) if m.name == "load-stop")
    read = max((r.at for r in history.of(ReadBack)), default=stop)
    return max(stop, read) - start


def one(scenario: str, warm: bool, reports: Path) -> tuple[float, float]:
    """(wall time of the command, the scenario's own time) for one run."""
    if warm:
        assert chaos("up").returncode == 0
    else:
        chaos("down")
    before = set(reports.glob("*")) if reports.exists() else set()
    started = time.monotonic()
    done = chaos("run", scenario, "--reports", str(reports), *(["--keep-up"] if warm else []))
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{scenario} could not run:\n{done.stdout}{done.stderr}")
    (run_dir,) = set(reports.glob("*")) - before
    return wall, scenario_time(run_dir)


STACK_ONLY = """
import json, sys, time
from chaos.launcher import prepare_for
prepare_for(["up"])  # the services' launcher imports beside this one's imports, as in a run (chaos.__main__)
from chaos.runtime import runtime_for
from chaos.spec import load_system
from pathlib import Path
runtime = runtime_for(load_system(Path("system.yaml").resolve()), "local")
t0 = time.monotonic(); runtime.up(); t1 = time.monotonic(); runtime.down(); t2 = time.monotonic()
json.dump({"up": t1 - t0, "down": t2 - t1}, sys.stdout)
"""


def stack_alone() -> tuple[float, float]:
    """(start, stop) seconds of the stack's own up and down, nothing running before."""
    chaos("down")
    done = python("-c", STACK_ONLY, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"the stack could not start and stop:\n{done.stdout}{done.stderr}")
    figures = json.loads(done.stdout)
    return figures["up"], figures["down"]


def spread(values: list[float], fmt: str) -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.overhead")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scenario", default="order-down")
    args = p.parse_args(argv)
    # Bytecode for the toolkit's own modules, as a user's interpreter writes
    # it on the first import: with PYTHONDONTWRITEBYTECODE set (CI images,
    # this machine) every run would compile ~60 modules from source again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "chaos")], check=True, stdout=subprocess.DEVNULL)
    rows = []
    medians: dict[bool, float] = {}
    floor_note = ""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for label, warm in (("warm (stack up, kept up)", True), ("cold (from nothing, stopped after)", False)):
                walls, own = [], []
                for _ in range(args.repeats):
                    wall, scenario = one(args.scenario, warm, Path(tmp))
                    walls.append(wall)
                    own.append(scenario)
                    print(f"{label}: {wall:.2f} s for {scenario:.2f} s of scenario", file=sys.stderr, flush=True)
                ratios = [w / s for w, s in zip(walls, own)]
                medians[warm] = statistics.median(ratios)
                rows.append((label, spread(walls, "{:.2f} s"), spread(own, "{:.2f} s"), spread(ratios, "{:.3f}")))
                if not warm:
                    # The floor, against the same runs' scenario times.
                    ups, downs = zip(*(stack_alone() for _ in range(args.repeats)))
                    floors = [u + d for u, d in zip(ups, downs)]
                    scenario = statistics.median(own)
                    rows.append(("floor: the stack's own start + stop", spread(floors, "{:.2f} s"),
                                 f"{scenario:.2f} s (median above)", spread([1 + f / scenario for f in floors], "{:.3f}")))
                    floor_note = (f"stack start {spread(list(ups), '{:.2f}')} s, stop {spread(list(downs), '{:.2f}')} s; "
                                  f"a cold run beyond its scenario and that floor: "
                                  f"{statistics.median(walls) - scenario - statistics.median(floors):.2f} s (medians)")
        finally:
            chaos("down")
    head = ("run of " + args.scenario, "command wall time (min / median / max)", "scenario's own time (baseline)", "ratio")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print(f"\n{args.repeats} runs each; the scenario's own time is its duration plus the read-back of acknowledged writes\n")
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"\n{floor_note}")
    from bench.load import print_targets

    print_targets([("warm run / its scenario", medians[True], "{:.3f}", "<=", 1.02),
                   ("cold run / its scenario", medians[False], "{:.3f}", "<=", 1.05)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
