"""What `chaos explore` leaves for a person: the found scenario file, and
the closing summary of what was covered and what was found."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chaos.engine import schedules as sch

if TYPE_CHECKING:
    from chaos.engine.explore_records import ExploreOptions, ExploreResult


def replay_name(path: Path, scenarios_dir: Path) -> str:
    """What `chaos run` takes for a written file: 'found/NAME' inside the
    scenarios folder, else the file's path."""
    try:
        return str(path.resolve().relative_to(scenarios_dir.resolve()).with_suffix(""))
    except ValueError:
        return str(path)


def write_scenario(path: Path, data: dict[str, Any], breakers: str, scenarios_dir: Path) -> None:
    """Write scenario data as a scenario file, with a header that says how to replay it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = replay_name(path, scenarios_dir)
    off = " BREAKERS=off" if breakers == "off" else ""
    header = (f"# Written by chaos explore on {time.strftime('%Y-%m-%d %H:%M')} (breakers {breakers}).\n"
              f"# Replay: make chaos SCENARIO={rel}{off}   (or: chaos run {rel} --breakers {breakers})\n")
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100))


def summary_lines(result: ExploreResult, options: ExploreOptions) -> list[str]:
    """What was covered (fault kinds x targets, overlaps, flaps) and what was found, for a person."""
    ran = [e for e in result.examples if e.phase in ("generate", "shrink")]
    counts = Counter(e.status for e in ran)
    reruns = sum(e.phase == "confirm" for e in result.examples)
    lines = ["", f"explored {len(ran)} examples{f' (+{reruns} reruns of a first violation)' if reruns else ''} in {result.elapsed:.0f} s (breakers {options.breakers}; stopped by "
                 f"{ {'examples': 'the example count', 'budget': f'the budget: {result.spent}', 'found': 'a violation, shrunk'}[result.stopped_by] }): "
                 f"{counts['pass']} passed, {counts['unknown']} passed with some check unknown, {counts['fail']} violated, "
                 f"{counts['flaky']} flaky, {counts['error']} could not run"]
    cover: Counter[tuple[str, str]] = Counter()
    for e in ran:
        for f in e.faults:
            cover[(f["kind"], f.get("edge") or f.get("service"))] += 1
    lines.append("covered (examples per fault kind and target):")
    for kind in result.catalogue.kinds:
        cells = [f"{t} {cover[(kind, t)]}" for _, t in result.catalogue.targets[kind]]
        lines.append(f"  {kind:<11} " + ", ".join(cells))
    overlapping = sum(sch.overlaps(e.faults) for e in ran)
    flapping = sum(any("flap" in f for f in e.faults) for e in ran)
    sizes = Counter(len(e.faults) for e in ran)
    lines.append(f"  {overlapping} examples with overlapping faults, {flapping} with a flapping fault; faults per example: "
                 + ", ".join(f"{n}: {sizes[n]}" for n in sorted(sizes)))
    if result.catalogue.left_out:
        lines.append("  not explored: " + "; ".join(f"{k} ({why})" for k, why in result.catalogue.left_out.items()))
    reasons = Counter(u.split(":")[0] + ": " + _gist(u) for e in ran for u in e.unknown)
    if reasons:
        lines.append("unknown verdicts (not violations), by check and reason:")
        lines += [f"  {n:>3} x {r}" for r, n in reasons.most_common(6)]
    errors = [e for e in ran if e.status == "error"]
    if errors:
        lines.append(f"examples that could not run: {len(errors)}; first: {(errors[0].error.splitlines() or [''])[0]}")
    for fl in result.flaky:
        lines.append(f"FLAKY (not a find): example {fl.example} failed {', '.join(fl.failed)} once and passed when run again "
                     f"({', '.join(fl.reruns)}): {sch.describe(fl.faults)}")
    f = result.finding
    if f is None:
        lines.append("found: nothing that fails again when run again" if result.flaky else "found: nothing (no property failed)")
    else:
        shrink = f"{f.shrink_runs} shrink runs" + ("" if f.shrink_complete else f", cut short: {result.spent}")
        lines.append(f"found: {', '.join(f.violated)}; first at example {f.first_example} after {f.first_after_s:g} s "
                     f"({_faults(f.first_size)}), shrunk to {_faults(len(f.faults))} ({shrink}): {sch.describe(f.faults)}")
        if f.status == "reproduced":
            lines.append(f"  reproduced on replay from {f.path}; run it again: chaos run {f.replay_as} --breakers {options.breakers}"
                         f" (make chaos SCENARIO={f.replay_as}{' BREAKERS=off' if options.breakers == 'off' else ''})")
        elif f.status == "flaky":
            lines.append(f"  FLAKY: it passed on replay, so it is not a find; the schedule is kept at {f.path}")
        else:
            why = "; ".join(f.replay.unknown)[:300] if f.replay else "no replay"
            lines.append(f"  UNCONFIRMED: the replays could not tell ({why}); not a find, not a pass; kept at {f.path}")
    lines.append(f"index: {result.index / 'index.json'}; every example's run folder under {result.index / 'runs'}")
    return lines


def _faults(n: int) -> str:
    return f"{n} fault{'' if n == 1 else 's'}"


def _gist(unknown: str) -> str:
    """The reason of an unknown verdict without its figures: 'title: why, figures' -> 'why'."""
    text = unknown.split(": ", 1)[1] if ": " in unknown else unknown
    for cut in (" (", ": ", "; "):
        text = text.split(cut)[0]
    return text[:90]
