"""The nightly's index: what regressed, each scenario's status, links to every run's report.

Its input is the nightly's summary (chaos.engine.nightly.summarize); it adds no
plot, so it stays small and opens at once.
"""

from __future__ import annotations

from typing import Any

from chaos.report.html import badge, definitions, esc, page

CHANGE_STATUS = {"regressed": "fail", "changed": "flaky", "new": "new", "fixed": "pass", "gone": "error"}


def _failing(s: dict[str, Any]) -> list[tuple[str, str]]:
    """(check, first failing evidence) of each check that did not pass every time."""
    out = []
    for check, status in s["checks"].items():
        if status == "pass":
            continue
        evidence = next((v["evidence"] for r in s["runs"] for v in r["verdicts"] if v["check"] == check and v["status"] != "pass"), "")
        out.append((f"{check} ({status})", evidence))
    out += [("scenario runs", r["error"]) for r in s["runs"] if r["status"] == "error"]
    return out


def _run_link(r: dict[str, Any]) -> str:
    label = f"run {r['repeat']} {r['status'].upper()} {r['wall_time']:.0f} s"
    if r.get("run_dir"):
        return f'<a href="{esc(r["run_dir"])}/report.html">{esc(label)}</a>'
    return esc(label)


def nightly_index(summary: dict[str, Any]) -> str:
    """The nightly's index.html."""
    scenarios = summary["scenarios"]
    green = sum(s["status"] == "pass" for s in scenarios.values())
    change_of = {c["scenario"]: c["change"] for c in summary["changes"] if "check" not in c}
    rows = []
    for name, s in scenarios.items():
        change = change_of.get(name, "")
        failing = "".join(f"<li><b>{esc(c)}</b>: {esc(e)}</li>" for c, e in _failing(s))
        rows.append(
            f'<tr class="scenario {esc(s["status"])}"><td>{badge(s["status"])}</td><td>{esc(name)}</td>'
            f'<td>{badge(CHANGE_STATUS[change], change) if change else ""}</td>'
            f'<td>{"<br>".join(_run_link(r) for r in s["runs"])}</td><td><ul>{failing}</ul></td></tr>'
        )
    changes = "".join(
        f"<li>{badge(CHANGE_STATUS[c['change']], c['change'])} {esc(c['scenario'])}"
        f"{' / ' + esc(c['check']) if c.get('check') else ''}: {esc(c['was'] or '-')} &rarr; {esc(c['now'] or '-')}</li>"
        for c in summary["changes"]
    ) or ("<li>cut short: not compared with the previous nightly</li>" if summary.get("interrupted") else
          f"<li>{'no change since the previous nightly' if summary.get('previous_folder') else 'no previous nightly to compare with'}</li>")
    about = {k: summary[k] for k in ("started", "interrupted", "breakers", "runtime", "repeat", "wall_time_s", "previous_folder") if summary.get(k) not in (None, "")}
    head = (badge("unknown", "INTERRUPTED") if summary.get("interrupted")
            else badge("pass" if summary["passed"] else "fail", "PASSED" if summary["passed"] else "FAILED"))
    body = f"""
<p class="meta">flask-chaos nightly resilience results</p>
<h1>nightly {head}</h1>
<p class="lead">{green} of {len(scenarios)} scenarios passed every repeat.</p>
<section><h2>Changes since the previous nightly</h2><ul id="changes">{changes}</ul></section>
<section><h2>Scenarios</h2>
<table id="scenarios"><thead><tr><th>status</th><th>scenario</th><th>change</th><th>runs (reports)</th><th>what failed</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>
<section><h2>This nightly</h2>{definitions(about)}
<p><a href="junit.xml">junit.xml</a> &middot; <a href="summary.json">summary.json</a></p></section>
"""
    return page(f"nightly: {'INTERRUPTED' if summary.get('interrupted') else 'PASSED' if summary['passed'] else 'FAILED'}", body)


def nightly_markdown(summary: dict[str, Any]) -> str:
    """The same, short, as Markdown for a CI job's summary page."""
    verdict = f"INTERRUPTED {summary['interrupted']}" if summary.get("interrupted") else "passed" if summary["passed"] else "FAILED"
    lines = [f"## Nightly resilience: {verdict}", "",
             "| scenario | status | runs | failing checks |", "| --- | --- | --- | --- |"]
    for name, s in summary["scenarios"].items():
        failing = "; ".join(c for c, _ in _failing(s)) or "-"
        lines.append(f"| {name} | {s['status']} | {' '.join(r['status'] for r in s['runs'])} | {failing} |")
    if summary["changes"]:
        lines += ["", "Changes since the previous nightly:", ""]
        lines += [f"- **{c['change']}** {c['scenario']}{' / ' + c['check'] if c.get('check') else ''}: "
                  f"{c['was'] or '-'} -> {c['now'] or '-'}" for c in summary["changes"]]
    return "\n".join(lines) + "\n"
