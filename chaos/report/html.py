"""HTML pages: one run's report, and the frame the nightly index shares.

Plain HTML and one stylesheet, written by hand: the pages are small and
their structure is what tests and people look for (the `#verdicts` table,
one row a check with its status as a class).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from chaos.report.timeline import Timeline

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0; background: #f6f7f9; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.lead { color: #444; max-width: 90ch; } .meta { color: #666; font-size: 13px; }
section { background: #fff; border: 1px solid #e3e5e8; border-radius: 8px; padding: 12px 16px; margin: 14px 0; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid #eee; }
th { font-weight: 600; color: #555; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; min-width: 4.5em; text-align: center; padding: 2px 8px; border-radius: 4px; font-weight: 700; font-size: 12px; color: #fff; }
.badge.pass { background: #1e8e3e; } .badge.fail { background: #d93025; } .badge.unknown { background: #e37400; }
.badge.flaky { background: #a142f4; } .badge.error { background: #5f6368; } .badge.new { background: #1a73e8; }
tr.fail td, tr.unknown td, tr.flaky td, tr.error td { background: #fdf1f0; }
#scenarios td:nth-child(-n+4) { white-space: nowrap; }
.figures { color: #555; font-size: 12px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f3f4f6; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
a { color: #1a73e8; } dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; } dt { color: #666; } dd { margin: 0; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def badge(status: str, text: str | None = None) -> str:
    return f'<span class="badge {esc(status)}">{esc(text or status.upper())}</span>'


def page(title: str, body: str) -> str:
    """A whole HTML document with the shared stylesheet; it loads nothing from the network."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def definitions(items: Mapping[str, Any]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items()) + "</dl>"


def _figures(figures: Mapping[str, Any]) -> str:
    if not figures:
        return ""
    return '<div class="figures">' + esc(", ".join(f"{k}={_compact(v)}" for k, v in figures.items())) + "</div>"


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def verdict_table(verdicts: Iterable[Mapping[str, Any]]) -> str:
    """The checks, one row each: status, check, evidence in words and figures."""
    rows = "".join(
        f'<tr class="verdict {esc(v["status"])}"><td>{badge(v["status"])}</td><td>{esc(v["check"])}</td>'
        f'<td>{esc(v["evidence"])}{_figures(v.get("figures") or {})}</td></tr>'
        for v in verdicts
    )
    return f'<table id="verdicts"><thead><tr><th>verdict</th><th>check</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table>'


def route_table(tl: Timeline) -> str:
    rows = "".join(
        f"<tr><td>{esc(s.route)}</td><td class=num>{s.sent}</td><td class=num>{s.ok}</td><td class=num>{s.fallback}</td>"
        f"<td class=num>{s.errors}</td><td class=num>{s.p50_ms:.0f}</td><td class=num>{s.p99_ms:.0f}</td></tr>"
        for s in tl.summary()
    )
    return ("<table><thead><tr><th>route</th><th>sent</th><th>full answers</th><th>fallback</th><th>errors</th>"
            f"<th>p50 ms</th><th>p99 ms</th></tr></thead><tbody>{rows}</tbody></table>")


def load_line(load: Mapping[str, Any] | None) -> str:
    """The header's line on delivery: asked against delivered, and the lag."""
    if not load:
        return '<p class="meta" id="load">load delivery not recorded (a run from before it was)</p>'
    text = (f"load asked {load['asked']:g} req/s, delivered {load['delivered']:.1f} req/s ({load['sent']} sent"
            + (f", {load['not_sent']} not sent" if load["not_sent"] else "")
            + f"); schedule lag p50 {load['lag_p50'] * 1000:.1f} ms, p99 {load['lag_p99'] * 1000:.1f} ms, max {load['lag_max'] * 1000:.1f} ms")
    if load["delivered_ok"]:
        return f'<p class="meta" id="load">{esc(text)}</p>'
    return f'<p class="meta" id="load">{badge("unknown", "NOT DELIVERED")} {esc(load["reason"])}</p>'


def machine_line(machine: Mapping[str, Any] | None) -> str:
    """The header's line on how starved the machine was (chaos.engine.pressure)."""
    cpu, io = (machine or {}).get("cpu_some"), (machine or {}).get("io_some")
    units = ((machine or {}).get("units") or {}).get("all")
    if not cpu and not units:
        return '<p class="meta" id="machine">machine: no pressure figures from this kernel (/proc/pressure)</p>'
    if cpu:
        text = (f"machine: some task waited for a CPU {cpu['mean']:.0%} of the time (worst second {cpu['max']:.0%})"
                + (f", for IO {io['mean']:.0%}" if io else "") + " while the load ran")
    else:
        text = "machine: no pressure figures from this kernel (/proc/pressure)"
    if units:
        text += (f"; the system's own units ran on {units['cores']:.2f} cores and waited "
                 f"{units['wait_per_cpu_second']:.1f} s for a CPU per second they ran")
    return f'<p class="meta" id="machine">{esc(text)}</p>'


def run_report(info: Mapping[str, Any], verdicts: list[Mapping[str, Any]], tl: Timeline, plot: str, files: list[str],
               load: Mapping[str, Any] | None = None, machine: Mapping[str, Any] | None = None) -> str:
    """One run's report: the timeline plot, the checks with their evidence,
    then the scenario as run. `info` is the run's run.json, `load` its
    delivery figures (chaos.report.load_figures), `machine` how starved the
    machine was (chaos.report.machine_figures)."""
    status = "pass" if info["passed"] else "fail"
    passed = sum(v["status"] == "pass" for v in verdicts)
    faults = "".join(f"<li>{s.start:.2f} s to {s.end:.2f} s: {esc(s.label)}</li>" for s in tl.faults) or "<li>none started</li>"
    body = f"""
<p class="meta">flask-chaos run report &middot; run {esc(info["run_id"])} &middot; {esc(info["started"])}</p>
<h1>{esc(info["scenario"])} {badge(status, "PASSED" if info["passed"] else "FAILED")}</h1>
<p class="lead">{esc(info["description"])}</p>
<p class="meta">breakers {esc(info["breakers"])} &middot; runtime {esc(info["runtime"])} &middot; seed {esc(info["seed"])}
 &middot; {passed} of {len(verdicts)} checks passed &middot; wall time {info["wall_time_s"]:.1f} s</p>
{load_line(load)}
{machine_line(machine)}
<section id="plot"><h2>Timeline</h2>
<p class="meta">Seconds from the start of load. Shaded: fault windows. Red crosses: requests with no answer or a 5xx;
open diamonds: a breaker's fallback answered.</p>
{plot}
<ul class="meta">{faults}</ul>
</section>
<section><h2>Checks</h2>{verdict_table(verdicts)}</section>
<section><h2>Requests per route</h2>{route_table(tl)}</section>
<section><h2>The scenario as run</h2>
{definitions({"scenario file": info["source_path"], "duration": f'{info["parameters"].get("duration")} s', "seed": info["seed"],
              "breakers": info["breakers"], "runtime": info["runtime"], **{f"version of {k}": v for k, v in info["versions"].items()}})}
<h3>Scenario file</h3><pre>{esc(info["source"])}</pre>
<details><summary>Parameters as parsed, with every default</summary><pre>{esc(json.dumps(info["parameters"], indent=2))}</pre></details>
</section>
<section><h2>Files in this run folder</h2><ul>{"".join(f'<li><a href="{esc(f)}">{esc(f)}</a></li>' for f in files)}</ul></section>
"""
    return page(f"{info['scenario']}: {'PASSED' if info['passed'] else 'FAILED'}", body)
