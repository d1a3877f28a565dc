"""`make bench-load`: what the load generator and the report cost, against
what they cost before issue 9, measured in the same run.

- CPU per request of the generator (aiohttp + uvloop) against the old
  threads + requests engine (bench/load_baseline.py), at each rate;
- schedule lag p99 (request start minus due time) and delivered rate at 400,
  1000 and 1500 req/s, alone against a bare Flask endpoint under gunicorn on
  a free port (bench/bare.py);
- report.html's size and the runner's memory increase while writing it
  (peak RSS over RSS before), with the vendored basic bundle against
  plotly's full bundle inlined by `to_html` as before.

Each figure is min / median / max over REPEATS runs, each in its own process
(CPU is that process's getrusage; memory its VmHWM after resetting it), and
the ratio of medians new / baseline.

    python -m bench.load [--repeats N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATES = (400, 1000, 1500)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one_load(engine: str, url: str, rate: float, seconds: float) -> dict:
    """One run of one engine at one rate, in this process."""
    from bench.bare import system_for
    from chaos.history import History, Request
    from chaos.history.queries import percentile

    if engine == "new":
        from chaos.engine.load import LoadGenerator as Gen
    else:
        from bench.load_baseline import ThreadsLoadGenerator as Gen  # type: ignore[assignment]
    history = History()
    gen = Gen(system_for(url), {"ping": 1}, rate, 3.0, history, 1)
    cpu = _cpu()
    started = time.time()
    gen.start()
    time.sleep(seconds)
    stopping = time.time()
    gen.stop()
    cpu = _cpu() - cpu
    reqs = [r for r in history.of(Request) if r.attempt == 1]
    ok = sum(r.status == 200 for r in reqs) / max(1, len(reqs))
    if not reqs or ok < 0.9:
        # Figures of a generator that failed its requests would measure the failures.
        raise SystemExit(f"{engine} engine at {rate:g} req/s: {len(reqs)} requests recorded of "
                         f"{rate * seconds:.0f} due, {ok:.1%} answered 200; the figures would be meaningless")
    lags = [r.t_start - r.t_sched for r in reqs]
    return {"cpu_ms": 1000 * cpu / max(1, len(reqs)), "lag_p99_ms": 1000 * percentile(lags, 99),
            "delivered": len([r for r in reqs if r.t_start < stopping]) / (stopping - started),
            "ok": ok}


def one_report(bundle: str) -> dict:
    """Write one realistic run's report with the `bundle` ("basic" or "full") and
    measure its size and this process's peak RSS increase while writing it."""
    from chaos.checks import Verdict
    from chaos.report import write_report

    history = realistic_history()
    verdicts = [{"check": "c", "status": "pass", "evidence": "e", "figures": {}}] * 5
    info = _info()
    if bundle == "full":  # the old path, as it was: to_html with plotly.min.js, the page as one string
        import plotly.graph_objects  # noqa: F401 - imported before measuring, as it was at the top of figure.py
    else:
        import chaos.report.figure  # noqa: F401
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        before = _vm("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now
        out = write_report(run_dir, history, verdicts, info) if bundle == "basic" else _old_write_report(run_dir, history, verdicts, info)
        peak = _vm("VmHWM")
        assert Verdict  # the verdict type is what write_run_folder hands over; here plain dicts do
        return {"size_kb": out.stat().st_size / 1024, "write_mib": (peak - before) / 1024}


def _old_write_report(run_dir: Path, history, verdicts, info) -> Path:
    from chaos.report import load_figures
    from chaos.report.figure import CONFIG, DIV_ID, figure
    from chaos.report.html import run_report
    from chaos.report.timeline import timeline

    import plotly.graph_objects as go

    tl = timeline(history)
    # As before issue 9: a validated plotly figure, to_html with the full bundle, the page as one string.
    plot = go.Figure(figure(tl)).to_html(full_html=False, include_plotlyjs=True, div_id=DIV_ID, config=CONFIG)
    out = run_dir / "report.html"
    out.write_text(run_report(info, verdicts, tl, plot, [], load_figures(history)), encoding="utf-8")
    return out


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def realistic_history():
    """30 s at 30 req/s over four routes, a 10 s fault from 8 s with a breaker
    opening, probing half-open and closing, fallbacks and errors, writes."""
    import random

    from chaos.history import BreakerInfo, FaultEvent, History, LoadDelivery, Mark, ReadBack, Request, Transition

    rng = random.Random(9)
    t0 = 1_800_000_000.0
    h = History([Mark("load-start", t0, {"rate": 30}), BreakerInfo("gateway->orders", "closed", 5, 5.0, True, t0),
                 BreakerInfo("gateway->users", "closed", 5, 5.0, True, t0),
                 FaultEvent(0, "start", "kill", "kill orders (SIGKILL), start it again when the fault ends", ("orders",), t0 + 8)])
    for old, new, at in [("closed", "open", 8.2), ("open", "half-open", 13.2), ("half-open", "open", 13.25),
                         ("open", "half-open", 18.3), ("half-open", "closed", 18.4)]:
        h.append(Transition("gateway->orders", old, new, t0 + at, t0 + at + 0.003))
    routes = ["user", "profile", "user-orders", "place-order"]
    for i in range(900):
        t = i / 30
        route = rng.choice(routes)
        during = 8 <= t < 18.4 and route != "user"
        lat = rng.uniform(0.002, 0.02) if not during else rng.uniform(0.001, 0.01)
        status, fb = (503, "gateway->orders") if during and rng.random() < 0.7 else (200, None)
        err = "timeout" if during and rng.random() < 0.02 else None
        h.append(Request(route, "GET", f"/api/{route}/{i}", t0 + t, t0 + t + 0.0005, t0 + t + lat, None if err else status, err, fb,
                         "breaker-open" if fb else None, str(i) if route == "place-order" and not during else None))
    h.append(FaultEvent(0, "end", "kill", "kill orders", ("orders",), t0 + 18.3, "started orders again"))
    h.append(LoadDelivery(30, 30.0, 900, 0, 30.0, 0.0006, 0.002, 0.004, 0.1, 1000, 1000, t0 + 30))
    h.append(Mark("load-stop", t0 + 30))
    h.append(ReadBack("place-order", "1", 200, True, "1: ok", t0 + 31))
    return h


def _info() -> dict:
    return {"run_id": "bench", "started": "2026-01-01T00:00:00+00:00", "scenario": "order-down", "description": "bench",
            "passed": True, "breakers": "on", "runtime": "local", "seed": 1, "wall_time_s": 33.0, "source_path": "x.yaml",
            "parameters": {"duration": 30}, "source": "name: order-down\n", "versions": {"plotly": "7.1.0"}}


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.load", "--one", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"bench.load --one {' '.join(args)} failed")
    out = done.stdout
    return json.loads(out.strip().splitlines()[-1])


def _spread(values: list[float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        result = one_report(rest[0]) if kind == "report" else one_load(kind, rest[0], float(rest[1]), float(rest[2]))
        print(json.dumps(result))
        return 0
    from bench.bare import served

    rows: list[tuple[str, str, str, str]] = []
    medians: dict[tuple[str, int], float] = {}
    with served(threads=4) as url:
        for rate in RATES:
            runs: dict[str, list[dict]] = {"new": [], "old": []}
            for _ in range(args.repeats):
                for engine in ("new", "old"):  # in turn, so drift in the machine's speed hits both
                    runs[engine].append(_child(engine, url + "", str(rate), str(args.seconds)))
            for key, label, fmt in [("cpu_ms", "CPU per request, ms", ".3f"), ("lag_p99_ms", "lag p99, ms", ".1f"),
                                    ("delivered", "delivered, req/s", ".0f"), ("ok", "answered 200, share", ".3f")]:
                new, old = [r[key] for r in runs["new"]], [r[key] for r in runs["old"]]
                medians[(key, rate)] = statistics.median(new)
                ratio = statistics.median(new) / statistics.median(old) if statistics.median(old) else float("nan")
                rows.append((f"{label} at {rate} req/s", _spread(new, fmt), _spread(old, fmt), f"{ratio:.2f}"))
            print(f"measured {rate} req/s", file=sys.stderr, flush=True)
    reports: dict[str, list[dict]] = {"basic": [], "full": []}
    for _ in range(args.repeats):
        for bundle in ("basic", "full"):
            reports[bundle].append(_child("report", bundle))
    for key, label, fmt in [("size_kb", "report.html size, KB", ".0f"), ("write_mib", "memory while writing it, +MiB", ".1f")]:
        new, old = [r[key] for r in reports["basic"]], [r[key] for r in reports["full"]]
        rows.append((label, _spread(new, fmt), _spread(old, fmt), f"{statistics.median(new) / statistics.median(old):.2f}"))
        medians[(key, 0)] = statistics.median(new)
    head = ("measure (min / median / max over %d runs)" % args.repeats, "new", "baseline", "new/baseline")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print("\nbaseline: threads + requests engine; report with plotly's full bundle via to_html. Rate runs: %g s each, "
          "bare Flask under gunicorn (gthread, 1 worker, 4 threads) on a free port.\n" % args.seconds)
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    targets = [
        ("CPU per request at 1000 req/s", medians[("cpu_ms", 1000)], "{:.3f} ms", "<=", 0.3),
        ("schedule lag p99 at 1000 req/s", medians[("lag_p99_ms", 1000)], "{:.1f} ms", "<=", 10.0),
        ("delivered at 1000 req/s", medians[("delivered", 1000)], "{:.0f} req/s", ">=", 950.0),
        ("report.html size", medians[("size_kb", 0)], "{:.0f} KB", "<=", 1000.0),
        ("memory while writing it", medians[("write_mib", 0)], "+{:.1f} MiB", "<=", 20.0),
    ]
    print_targets(targets)
    return 0


def print_targets(targets: list[tuple[str, float, str, str, float]]) -> bool:
    """Each issue target against its median, met or missed; True if all are met."""
    print("\ntargets (medians):")
    met_all = True
    for label, value, fmt, op, bound in targets:
        met = value <= bound if op == "<=" else value >= bound
        met_all &= met
        print(f"  {'met   ' if met else 'MISSED'}  {label}: {fmt.format(value)} (target {op} {fmt.format(bound)})")
    return met_all


if __name__ == "__main__":
    sys.exit(main())
