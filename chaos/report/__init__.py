"""Run folders: everything one run leaves behind, for people and for CI.

A run folder (reports/<time>-<scenario>-<run id>/) holds:

- history.jsonl  every event of the run, one JSON object a line;
- verdicts.json  each check's verdict with its evidence and figures;
- run.json       the scenario as run: parameters, seed, breakers, runtime, versions;
- junit.xml      the verdicts as JUnit XML (see chaos.report.junit);
- logs/NAME.log  the part of each service's and Toxiproxy's log written during the run;
- report.html    one self-contained page: the timeline plot, the checks, the scenario.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos import __version__
from chaos.report import junit
from chaos.checks import Verdict
from chaos.history import History
from chaos.history.queries import load_delivery, not_delivered
from chaos.spec.options import RunOptions

MAX_LOG_BYTES = 2_000_000  # per unit: a runaway log must not bloat the run folder


class LogMarks:
    """Where each unit's log ended when a run began, so that only the part
    written during the run is copied into its folder."""

    def __init__(self, runtime: Any, units: Iterable[str]):
        self.starts: dict[str, tuple[Path, int]] = {}
        for name in units:
            try:
                path = runtime.logs(name)
            except Exception:  # noqa: BLE001 - a unit without a log file is simply not copied
                path = None
            if path is not None:
                self.starts[name] = (Path(path), Path(path).stat().st_size if Path(path).exists() else 0)

    def copy_to(self, folder: Path) -> list[Path]:
        """Copy each log's new part to folder/NAME.log; returns the files written.
        A log that shrank was replaced during the run: all of it is new."""
        written = []
        for name, (path, offset) in self.starts.items():
            if not path.exists():
                continue
            size = path.stat().st_size
            start = offset if size >= offset else 0
            start = max(start, size - MAX_LOG_BYTES)
            with path.open("rb") as f:
                f.seek(start)
                data = f.read()
            folder.mkdir(parents=True, exist_ok=True)
            out = folder / f"{name}.log"
            out.write_bytes(data)
            written.append(out)
        return written


def versions(toxiproxy: Any | None = None) -> dict[str, str]:
    """The versions a run depends on; Toxiproxy's is asked of the running server."""
    found = {"flask-chaos": __version__, "python": platform.python_version()}
    for package in ("plotly", "aiohttp", "uvloop", "requests", "pydantic"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    if toxiproxy is not None:
        try:
            found["toxiproxy"] = str(toxiproxy.version())
        except Exception:  # noqa: BLE001 - a version is nice to have, never worth failing a run
            found["toxiproxy"] = "unknown"
    found["platform"] = platform.platform(terse=True)
    return found


def run_info(scenario: Any, run_id: str, started: float, wall_time: float, passed: bool,
             options: RunOptions | None = None, found_versions: Mapping[str, str] | None = None,
             system_path: Path | None = None) -> dict[str, Any]:
    """What run.json holds: the scenario as run and the conditions it ran under,
    including the system file it ran against (`system_path`, absolute, so
    `chaos advise` can read its edges later; absent when not given)."""
    options = options or RunOptions()
    path = Path(scenario.path)
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "run_id": run_id,
        "started": datetime.datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "started_at": started,
        "wall_time_s": round(wall_time, 2),
        "passed": passed,
        "breakers": options.breakers,
        "runtime": options.runtime,
        "seed": scenario.seed,
        "parameters": scenario.spec.model_dump(mode="json"),
        "source_path": str(path),
        "source": path.read_text() if path.exists() else "",
        "versions": dict(found_versions or versions()),
        **({"system_path": str(Path(system_path).resolve())} if system_path is not None else {}),
    }


def write_run_folder(run_dir: Path, history: History, verdicts: list[Verdict], info: Mapping[str, Any],
                     logs: LogMarks | None = None) -> Path | None:
    """Write every file of a run folder (see the module docstring); returns
    report.html, or None when drawing it failed (the reason is then in
    report-error.txt: everything else was written first and stays)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    history.write_jsonl(run_dir / "history.jsonl")
    found = [asdict(v) for v in verdicts]
    (run_dir / "verdicts.json").write_text(json.dumps(
        {"scenario": info["scenario"], "passed": info["passed"], "wall_time_s": info["wall_time_s"], "load": load_figures(history),
         "machine": machine_figures(history), "verdicts": found}, indent=2))
    (run_dir / "run.json").write_text(json.dumps(info, indent=2))
    properties = {"run_id": info["run_id"], "seed": info["seed"], "breakers": info["breakers"], "runtime": info["runtime"],
                  **{f"version.{k}": v for k, v in info["versions"].items()}}
    junit.write(run_dir / "junit.xml", [junit.run_suite(info["scenario"], found, info["wall_time_s"], info["started_at"], properties,
                                                        info["run_id"])])
    if logs is not None:
        logs.copy_to(run_dir / "logs")
    try:
        return write_report(run_dir, history, found, info)
    except Exception:  # noqa: BLE001 - the verdicts stand without their drawing; say why it is missing
        (run_dir / "report-error.txt").write_text(traceback.format_exc())
        return None


def load_figures(history: History) -> dict[str, Any] | None:
    """What verdicts.json and the report say about delivery: the LoadDelivery's
    figures, whether load was delivered and, if not, why; None for old runs."""
    d = load_delivery(history)
    if d is None:
        return None
    why = not_delivered(history)
    figures = {k: v for k, v in asdict(d).items() if k not in ("kind", "at")}
    return {**figures, "delivered_ok": why is None, "reason": why}


def machine_figures(history: History) -> dict[str, Any] | None:
    """How starved the machine was while the load ran (chaos.engine.pressure):
    the share of time some task waited for a CPU, and for IO, mean and worst
    second, over the load's seconds and the four seconds before the first
    fault (None without /proc/pressure), and what the system's own units
    got (units_figures); None when there were no samples at all."""
    from chaos.history import FaultEvent, Pressure

    samples = history.of(Pressure)
    if not samples:
        return None
    starts = [f.at for f in history.of(FaultEvent) if f.phase == "start"]
    first = min(starts) if starts else None

    def summary(values: list[float]) -> dict[str, float] | None:
        return {"mean": round(sum(values) / len(values), 3), "max": round(max(values), 3)} if values else None

    before = [p.cpu for p in samples if p.cpu is not None and first is not None and first - 4.0 <= p.at <= first + 0.5]
    return {"cpu_some": summary([p.cpu for p in samples if p.cpu is not None]),
            "io_some": summary([p.io for p in samples if p.io is not None]),
            "cpu_some_before_first_fault": summary(before), "seconds": len(samples),
            "meaning": "share of each second in which some runnable task waited for a CPU (cpu) or for IO (io)",
            **({"units": units} if (units := units_figures(history)) else {})}


def units_figures(history: History) -> dict[str, Any] | None:
    """What the system's own units got of the machine (chaos.engine.pressure):
    the cores they ran on, and the seconds their threads waited for a CPU
    per second they ran on one, over the whole load and before, during and
    after the faults; None without those figures (the runtime gave no
    process groups)."""
    from chaos.history import FaultEvent, Pressure

    from chaos.history.queries import units_share

    samples = [p for p in history.of(Pressure) if p.units_cpu is not None and p.units_wait is not None]
    if not samples:
        return None
    starts = [f.at for f in history.of(FaultEvent) if f.phase == "start"]
    ends = [f.at for f in history.of(FaultEvent) if f.phase != "start"]

    def over(part: list[Any]) -> dict[str, float] | None:
        found = units_share(part)
        return None if found is None else {"seconds": round(found.seconds, 1), "cores": round(found.cores, 3),
                                           "wait_per_cpu_second": round(found.wait, 2)}

    # A sample covers the second before its `at`: it belongs to a phase it ended in.
    phases = {"all": over(samples)}
    if starts:
        first, last = min(starts), max(ends) if ends else max(starts)
        phases |= {"before": over([p for p in samples if p.at <= first]),
                   "during": over([p for p in samples if first < p.at - p.interval and p.at <= last]),
                   "after": over([p for p in samples if p.at - p.interval >= last])}
    return {**{k: v for k, v in phases.items() if v}, "meaning": (
        "cores: CPU the system's units ran on; wait_per_cpu_second: seconds their threads waited, runnable, for a CPU "
        "per second they ran on one (1 + it is how much longer CPU work took than on an idle machine)")}


def write_report(run_dir: Path, history: History, verdicts: list[Mapping[str, Any]], info: Mapping[str, Any]) -> Path:
    """(Re)draw report.html from a run's history, verdicts and info, written as
    it is made: the page around the plot, then the plot, then the rest."""
    from chaos.report.figure import figure, write_plot  # plotly is only needed here
    from chaos.report.html import run_report
    from chaos.report.timeline import timeline

    tl = timeline(history)
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and p.name != "report.html")
    before, after = run_report(info, verdicts, tl, _PLOT, files, load_figures(history), machine_figures(history)).split(_PLOT)
    fig = figure(tl)
    out = run_dir / "report.html"
    with out.open("w", encoding="utf-8") as f:
        f.write(before)
        write_plot(f, fig)
        f.write(after)
    return out


_PLOT = "<!-- the plot goes here -->"


def redraw(run_dir: Path) -> Path:
    """Draw report.html again from the files of an existing run folder."""
    history = History.read_jsonl(run_dir / "history.jsonl")
    verdicts = json.loads((run_dir / "verdicts.json").read_text())["verdicts"]
    info = json.loads((run_dir / "run.json").read_text())
    return write_report(run_dir, history, verdicts, info)
