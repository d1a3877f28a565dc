"""The mutation score as tables: which bug was caught by which scenario and
check, in how many runs, with the evidence (the measured figure against its
bound); and whether the unpatched system passed the same scenarios."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from chaos.engine.mutants import BaselineResult, MutantResult


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(baselines: list[BaselineResult], results: list[MutantResult]) -> str:
    """Both tables in Markdown, and a closing line with the score."""
    lines = []
    if baselines:
        lines += ["| baseline scenario | runs passed | what did not pass |", "| --- | --- | --- |"]
        for b in baselines:
            passed = sum(rc == 0 for rc in b.exit_codes)
            lines.append(f"| {b.scenario} | {passed}/{len(b.exit_codes)} | {_cell('; '.join(dict.fromkeys(b.failing))) or '-'} |")
        lines.append("")
    lines += ["| mutant | bug | caught by | runs caught | evidence (a catching run: figure vs bound) |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        where = "; ".join(f"{c.scenario}: {c.check}" for c in r.mutant.caught_by)
        if r.error:
            lines.append(f"| {r.mutant.name} | {_cell(r.mutant.bug)} | {_cell(where)} | ERROR | {_cell(r.error)} |")
            continue
        caught = [j for j in r.rounds if j.caught]
        missed = [j for j in r.rounds if not j.caught and j.judged] or [j for j in r.rounds if not j.caught]
        shown = (caught[-1].why if caught else "") + (
            f" / {'ESCAPED' if missed[0].judged else 'NOT JUDGED'}: {missed[0].why}" if missed else "")
        lines.append(f"| {r.mutant.name} | {_cell(r.mutant.bug)} | {_cell(where)} | {r.caught}/{len(r.rounds)} | {_cell(shown)} |")
    lines += ["", score(baselines, results)]
    return "\n".join(lines)


def score(baselines: list[BaselineResult], results: list[MutantResult]) -> str:
    """One line: how many mutants were caught in every run, and the baseline's state."""
    caught = sum(not r.escaped for r in results)
    line = f"{caught} of {len(results)} mutants caught in every run"
    escaped = [r.mutant.name for r in results if r.missed]
    if escaped:
        line += f"; escaped: {', '.join(escaped)}"
    unjudged = [r.mutant.name for r in results if r.escaped and not r.missed]
    if unjudged:
        line += f"; not judged (load not delivered, every try): {', '.join(unjudged)}"
    dirty = [b.scenario for b in baselines if not b.clean]
    if dirty:
        line += f"; the unpatched system FAILED {', '.join(dirty)}, so those catches prove nothing"
    elif baselines:
        line += f"; the unpatched system passed every run of {', '.join(b.scenario for b in baselines)}"
    else:
        line += "; no baseline run (--no-baseline): a catch is not shown to be the mutant's"
    return line


def passed(baselines: list[BaselineResult], results: list[MutantResult]) -> bool:
    """Every mutant caught in every run, and every baseline run passed."""
    return all(not r.escaped for r in results) and all(b.clean for b in baselines)


def write(folder: Path, baselines: list[BaselineResult], results: list[MutantResult]) -> None:
    """summary.md (the tables) and summary.json (every round's judgement) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.md").write_text(table(baselines, results) + "\n")
    data = {
        "passed": passed(baselines, results),
        "baseline": [{"scenario": b.scenario, "exit_codes": b.exit_codes, "failing": b.failing} for b in baselines],
        "mutants": [{"name": r.mutant.name, "bug": r.mutant.bug, "caught": r.caught, "runs": len(r.rounds), "error": r.error,
                     "caught_by": [c.model_dump() for c in r.mutant.caught_by], "rounds": [asdict(j) for j in r.rounds]}
                    for r in results],
    }
    (folder / "summary.json").write_text(json.dumps(data, indent=2))
