"""`make bench-overhead`: what a run costs beyond its scenario.

A scenario's own time is its duration plus the read-back of acknowledged
writes (both in the run's history: load-start to load-stop, then the last
read-back). The run costs the whole `chaos run` command, from the shell's
point of view: interpreter start, set-up, the scenario, rollback, verdicts,
the run folder and report, and stopping what it started. The ratio of the two
is the run's overhead:

- warm: the stack is already up (`chaos up`), the run keeps it up;
- cold: nothing runs; the run starts everything and stops it again.

Each is min / median / max over REPEATS runs of one scenario, with the
scenario's own time as the baseline measured in the same run.

    python -m bench.overhead [--repeats 3] [--scenario order-down]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaos.history import History, Mark, ReadBack

ROOT = Path(__file__).resolve().parent.parent


def chaos(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "chaos", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


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
        finally:
            chaos("down")
    head = ("run of " + args.scenario, "command wall time (min / median / max)", "scenario's own time (baseline)", "ratio")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print(f"\n{args.repeats} runs each; the scenario's own time is its duration plus the read-back of acknowledged writes\n")
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    from bench.load import print_targets

    print_targets([("warm run / its scenario", medians[True], "{:.3f}", "<=", 1.02),
                   ("cold run / its scenario", medians[False], "{:.3f}", "<=", 1.05)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
