"""`make soak`: every scenario, REPEAT times, while hogs load the machine.

A verdict is worth something only if a healthy system passes run after run on
a busy machine (no false alarms) and a broken one still fails (no misses).
This runs the nightly (`chaos nightly`) under hogs of our own and prints one
table: for each scenario, how many runs passed, failed and could not tell,
and the evidence of each check that did not pass.

Hogs (`--hogs cpu,disk`, stopped by their pids at the end whatever happens):
- cpu: a busy loop per `--cpu` (default 1: one of the two cores);
- disk: a writer that writes 16 MiB next to the services' SQLite files and
  fsyncs it, again and again (their writes then queue behind it).

    python -m bench.soak --repeat 10 --hogs cpu,disk [--breakers off] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_HOG = "while True: pass"
DISK_HOG = """
import os, sys
path = sys.argv[1]
block = os.urandom(1 << 20)
while True:
    with open(path, "wb") as f:
        for _ in range(16):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    os.unlink(path)
"""


def start_hogs(kinds: set[str], cpus: int, folder: Path) -> list[subprocess.Popen]:
    """The hogs asked for, each in its own process group."""
    hogs = []
    if "cpu" in kinds:
        hogs += [subprocess.Popen([sys.executable, "-c", CPU_HOG], start_new_session=True) for _ in range(cpus)]
    if "disk" in kinds:
        folder.mkdir(parents=True, exist_ok=True)
        hogs.append(subprocess.Popen([sys.executable, "-c", DISK_HOG, str(folder / "disk-hog.bin")], start_new_session=True))
    return hogs


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:
        try:
            os.killpg(hog.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        hog.wait()


def table(summary: dict) -> list[str]:
    """One row a scenario: runs, passed, failed, unknown; then each check that did not pass, with its evidence."""
    rows = [f"{'scenario':<26} {'runs':>4} {'pass':>4} {'fail':>4} {'unknown':>7}  status", "-" * 60]
    notes = []
    totals: Counter[str] = Counter()
    for name, s in summary["scenarios"].items():
        per_run: Counter[str] = Counter()
        for run in s["runs"]:
            statuses = {v["status"] for v in run["verdicts"]}
            word = "error" if run["status"] == "error" else "fail" if "fail" in statuses else "unknown" if "unknown" in statuses else "pass"
            per_run[word] += 1
            for v in run["verdicts"]:
                if v["status"] != "pass":
                    notes.append(f"  {name} run {run['repeat']}: {v['status'].upper()} {v['check']}: {v['evidence']}")
            if word != "pass" and (starved := machine_note(run)):
                notes.append(f"  {name} run {run['repeat']}: {starved}")
            if run["status"] == "error":
                notes.append(f"  {name} run {run['repeat']}: ERROR {run['error']}")
        totals.update(per_run)
        rows.append(f"{name:<26} {len(s['runs']):>4} {per_run['pass']:>4} {per_run['fail'] + per_run['error']:>4} "
                    f"{per_run['unknown']:>7}  {s['status']}")
    rows.append("-" * 60)
    rows.append(f"{'all':<26} {sum(totals.values()):>4} {totals['pass']:>4} {totals['fail'] + totals['error']:>4} {totals['unknown']:>7}")
    return rows + (["", "checks that did not pass:"] + notes if notes else ["", "every check of every run passed"])


def machine_note(run: dict) -> str | None:
    """How starved the machine was in a run (verdicts.json's `machine`), to
    read a failure or an unknown by: a system slow while some task waited
    for a CPU most of the time may be slow for the machine's sake."""
    if not run.get("run_dir"):
        return None  # it could not run
    try:
        machine = json.loads((Path(run["run_dir"]) / "verdicts.json").read_text()).get("machine")
    except (OSError, ValueError):
        return None
    if not machine or not (machine.get("cpu_some") or machine.get("units")):
        return None
    cpu, before = machine.get("cpu_some"), machine.get("cpu_some_before_first_fault")
    if cpu:
        said = f"machine: some task waited for a CPU {cpu['mean']:.0%} of the load's seconds (worst second {cpu['max']:.0%})"
        if before:
            said += f", {before['mean']:.0%} in the 4 s before the first fault"
        io = machine.get("io_some")
        said += f"; for IO {io['mean']:.0%}" if io else ""
    else:
        said = "machine: no pressure figures from this kernel"
    units = machine.get("units") or {}
    phases = [(name, units[name]) for name in ("before", "during", "after") if units.get(name)]
    if phases:
        said += ("; the system's units waited for a CPU, per second they ran on one: "
                 + ", ".join(f"{p['wait_per_cpu_second']:.1f} s {name}" for name, p in phases)
                 + " the faults")
    return said


def run_nightly(cmd: list[str]) -> tuple[int, str]:
    """Run the nightly to its end: (exit code, stderr). Ctrl-C (or a SIGINT
    to this process alone) is passed on to it once, and then waited for: the
    nightly rolls its run back and stops what it started, which
    subprocess.run would cut short (it kills its child 0.25 s after an
    interrupt, and a soak stopped that way left the whole stack running). In
    a session of its own, so a terminal's Ctrl-C reaches it only through here."""
    nightly = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        _, stderr = nightly.communicate()
        return nightly.returncode, stderr
    except KeyboardInterrupt:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut its rollback short
        try:
            nightly.send_signal(signal.SIGINT)
            nightly.communicate()
        finally:
            signal.signal(signal.SIGINT, previous)
        raise


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", help="default: every scenario")
    p.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT") or 10))
    p.add_argument("--hogs", default="cpu,disk", help="comma-separated: cpu, disk, or none")
    p.add_argument("--cpu", type=int, default=1, help="busy loops (default 1)")
    p.add_argument("--breakers", choices=["on", "off"], default=os.environ.get("BREAKERS") or "on")
    p.add_argument("--reports", type=Path, default=ROOT / "reports" / "soak")
    args = p.parse_args(argv)
    kinds = {k.strip() for k in args.hogs.split(",") if k.strip() and k.strip() != "none"}
    if kinds - {"cpu", "disk"}:
        p.error(f"unknown hog {', '.join(sorted(kinds - {'cpu', 'disk'}))} (known: cpu, disk)")
    out = args.reports / f"{time.strftime('%Y%m%d-%H%M%S')}-breakers-{args.breakers}"
    # SIGTERM (a CI job cancelled, `kill`) takes Ctrl-C's path: the hogs and
    # the nightly live in sessions of their own, and would outlive this
    # process if it simply died.
    signal.signal(signal.SIGTERM, _interrupt)
    hogs = start_hogs(kinds, args.cpu, ROOT / ".chaos" / "soak")
    began = time.time()
    interrupted = False
    try:
        cmd = [sys.executable, "-m", "chaos", "nightly", "--repeat", str(args.repeat), "--breakers", args.breakers,
               "--reports", str(out), *args.scenarios]
        returncode, stderr = run_nightly(cmd)
    except KeyboardInterrupt:
        # The nightly rolled back and wrote the runs it had done: show them.
        interrupted, returncode, stderr = True, 130, ""
    finally:
        stop_hogs(hogs)
    summaries = sorted((out / "nightly").glob("*/summary.json"))
    if not summaries:
        print(f"the nightly wrote no summary (exit {returncode}):\n{stderr[-2000:]}", file=sys.stderr)
        return 130 if interrupted else 2
    summary = json.loads(summaries[-1].read_text())
    hog_words = ", ".join(f"{args.cpu} CPU busy loop{'s' if args.cpu > 1 else ''}" if k == "cpu" else "a disk writer that fsyncs 16 MiB at a time"
                          for k in sorted(kinds)) or "no hogs"
    cut = f"INTERRUPTED {summary['interrupted']}; " if summary.get("interrupted") else ""
    print(f"\nsoak: {cut}{args.repeat} repeats, breakers {args.breakers}, under {hog_words}; {time.time() - began:.0f} s; "
          f"nightly in {summaries[-1].parent}\n")
    print("\n".join(table(summary)))
    return 130 if interrupted or summary.get("interrupted") else 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
