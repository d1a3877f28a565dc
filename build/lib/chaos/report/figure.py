"""The report's plot: one time axis, three rows, fault windows shaded across all.

Plotly because it is a kept library (not hand-drawn SVG) whose JavaScript can
be inlined, so the report works offline, and it gives hover details (each
request's route, status and latency) for free. Two things kept the report
heavy, and are done differently here:

- the Python package ships only the full plotly.min.js (4.8 MB: every report
  was 4.9 MB). The plot needs only plotly.js's basic bundle, vendored gzipped
  in `vendor/` (see its README) and inlined as base64 that the page inflates
  with the browser's DecompressionStream: about 530 KB, still one file that
  opens offline;
- building a `plotly.graph_objects` figure loads plotly's validators and
  raised the runner's memory by about 20 MiB. The figure is the plain JSON
  plotly.js reads (data, layout), written here as dicts, with the layout
  `make_subplots` would make and plotly's own "plotly_white" template, read
  from the installed plotly package's data without importing plotly.

Rows: each request's latency by route (errors as red crosses, fallback
answers as open diamonds) on a log scale; the success rate and request rate
per second; each breaker's state as a coloured band.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any, TextIO

from chaos.report.timeline import BREAKER_STATES, Timeline

STATE_COLOURS = {"closed": "#2ca02c", "half-open": "#ff9f1c", "open": "#d62728", "disabled": "#9e9e9e"}
ROUTE_COLOURS = ["#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#2ca02c"]
ERROR_COLOUR = "#d62728"
FAULT_COLOUR = "#7b2cbf"
DIV_ID = "timeline"
BUNDLE = Path(__file__).parent / "vendor" / "plotly-basic.min.js.gz"
CONFIG = {"displaylogo": False, "responsive": True}
ROW_HEIGHTS = (0.55, 0.25, 0.2)
SPACING = 0.06
X_END = 0.94  # make_subplots leaves room on the right for the secondary y axis
TITLES = ("latency per request (ms, log scale)", "success rate and request rate per second", "breaker states")
# Axes per row: row 2's secondary y is y3, so the breaker row's y is y4.
ROWS = (("x", "y"), ("x2", "y2"), ("x3", "y4"))
Figure = dict[str, Any]


def figure(tl: Timeline) -> Figure:
    """The run's timeline as plotly.js figure JSON, {"data": [...], "layout": {...}}
    (see the module docstring for what it shows)."""
    breakers = list(dict.fromkeys(b.breaker for b in tl.bands))
    data = [*_latency(tl), *_rates(tl), *_bands(tl)]
    layout = _layout(tl, breakers)
    for span in tl.faults:
        # One shaded window per fault across every row: cause next to effect.
        for x, y in ROWS:
            layout["shapes"].append({"type": "rect", "x0": span.start, "x1": span.end, "xref": x, "y0": 0, "y1": 1, "yref": f"{y} domain",
                                     "fillcolor": FAULT_COLOUR, "opacity": 0.12, "line": {"width": 0}, "layer": "below"})
        layout["annotations"].append({"x": (span.start + span.end) / 2, "y": 1.0, "xref": "x", "yref": "y domain", "yanchor": "top",
                                      "showarrow": False, "text": f"fault: {_short(span.label)}",
                                      "font": {"color": FAULT_COLOUR, "size": 12}})
    return {"data": data, "layout": layout}


def _layout(tl: Timeline, breakers: list[str]) -> dict[str, Any]:
    top, domains = 1.0, []
    usable = 1.0 - SPACING * (len(ROW_HEIGHTS) - 1)
    for h in ROW_HEIGHTS:
        domains.append([max(0.0, round(top - h * usable, 6)), round(top, 6)])
        top -= h * usable + SPACING
    x_range = [0, max(tl.end, 1.0)]
    shared = {"domain": [0.0, X_END], "range": x_range, "showgrid": True, "matches": "x3", "showticklabels": False}
    layout: dict[str, Any] = {
        "xaxis": {**shared, "anchor": "y"},
        "yaxis": {"anchor": "x", "domain": domains[0], "type": "log", "title": {"text": "ms"}},
        "xaxis2": {**shared, "anchor": "y2"},
        "yaxis2": {"anchor": "x2", "domain": domains[1], "range": [0, 105], "title": {"text": "% of requests"}},
        "yaxis3": {"anchor": "x2", "overlaying": "y2", "side": "right", "title": {"text": "req/s"}, "showgrid": False, "rangemode": "tozero"},
        "xaxis3": {"anchor": "y4", "domain": [0.0, X_END], "range": x_range, "showgrid": True,
                   "title": {"text": "seconds from the start of load"}},
        "yaxis4": {"anchor": "x3", "domain": domains[2], "categoryorder": "array", "categoryarray": list(reversed(breakers))},
        "annotations": [{"text": title, "x": X_END / 2, "xanchor": "center", "xref": "paper", "y": d[1], "yanchor": "bottom",
                         "yref": "paper", "showarrow": False, "font": {"size": 16}} for title, d in zip(TITLES, domains)],
        "shapes": [],
        "template": _template(),
        "height": 560 + 28 * len(breakers), "barmode": "overlay", "hovermode": "closest",
        "margin": {"l": 70, "r": 70, "t": 70, "b": 50}, "legend": {"orientation": "h", "y": -0.12, "x": 0},
    }
    return layout


def _template() -> dict[str, Any]:
    """plotly's own "plotly_white" template, read from the installed package's
    data (finding the package imports none of it)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "package_data" / "templates" / "plotly_white.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _latency(tl: Timeline) -> list[dict[str, Any]]:
    out = []
    for i, route in enumerate(tl.routes):
        mine = [p for p in tl.points if p.route == route and p.outcome != "error"]
        out.append({
            "type": "scatter", "xaxis": "x", "yaxis": "y", "x": [p.t for p in mine], "y": [max(p.latency_ms, 0.1) for p in mine],
            "mode": "markers", "name": route, "legendgroup": "routes",
            "marker": {"size": 5, "color": ROUTE_COLOURS[i % len(ROUTE_COLOURS)],
                       "symbol": ["diamond-open" if p.outcome == "fallback" else "circle" for p in mine]},
            "customdata": [[p.label, p.outcome] for p in mine],
            "hovertemplate": f"{route}<br>%{{x:.2f}} s: %{{y:.0f}} ms, %{{customdata[0]}} (%{{customdata[1]}})<extra></extra>",
        })
    errors = [p for p in tl.points if p.outcome == "error"]
    out.append({
        "type": "scatter", "xaxis": "x", "yaxis": "y", "x": [p.t for p in errors], "y": [max(p.latency_ms, 0.1) for p in errors],
        "mode": "markers", "name": "errors", "marker": {"size": 7, "color": ERROR_COLOUR, "symbol": "x"},
        "customdata": [[p.route, p.label] for p in errors],
        "hovertemplate": "%{customdata[0]}<br>%{x:.2f} s: %{y:.0f} ms, %{customdata[1]}<extra>error</extra>",
    })
    return out


def _rates(tl: Timeline) -> list[dict[str, Any]]:
    sent = [b for b in tl.bins if b.sent]
    x = [b.start + b.width / 2 for b in sent]
    return [
        {"type": "bar", "xaxis": "x2", "yaxis": "y3", "x": [b.start + b.width / 2 for b in tl.bins], "y": [b.sent / b.width for b in tl.bins],
         "width": tl.bins[0].width * 0.9 if tl.bins else 1, "name": "requests/s", "marker": {"color": "#c9d6e3"}, "opacity": 0.6,
         "hovertemplate": "%{x:.1f} s: %{y:.0f} req/s<extra></extra>"},
        {"type": "scatter", "xaxis": "x2", "yaxis": "y2", "x": x, "y": [100 * b.ok / b.sent for b in sent], "mode": "lines",
         "name": "full answers %", "line": {"color": "#2ca02c"}, "hovertemplate": "%{x:.1f} s: %{y:.0f}% full answers<extra></extra>"},
        {"type": "scatter", "xaxis": "x2", "yaxis": "y2", "x": x, "y": [100 * (b.ok + b.fallback) / b.sent for b in sent], "mode": "lines",
         "name": "answered (incl. fallback) %", "line": {"color": "#1f77b4", "dash": "dot"},
         "hovertemplate": "%{x:.1f} s: %{y:.0f}% answered<extra></extra>"},
    ]


def _bands(tl: Timeline) -> list[dict[str, Any]]:
    out = []
    for state in BREAKER_STATES:
        mine = [b for b in tl.bands if b.state == state]
        if not mine:
            continue
        out.append({
            "type": "bar", "xaxis": "x3", "yaxis": "y4", "orientation": "h", "y": [b.breaker for b in mine],
            "x": [b.end - b.start for b in mine], "base": [b.start for b in mine], "name": f"breaker {state}", "legendgroup": "breakers",
            "marker": {"color": STATE_COLOURS[state]}, "width": 0.6, "customdata": [[b.start, b.end] for b in mine],
            "hovertemplate": f"%{{y}} {state}<br>%{{customdata[0]:.2f}} s to %{{customdata[1]:.2f}} s<extra></extra>",
        })
    if tl.changes:
        out.append({
            "type": "scatter", "xaxis": "x3", "yaxis": "y4", "x": [c.t for c in tl.changes], "y": [c.breaker for c in tl.changes],
            "mode": "markers", "name": "transitions", "legendgroup": "breakers",
            "marker": {"symbol": "line-ns-open", "size": 18, "line": {"width": 2, "color": "#222"}},
            "customdata": [[c.old, c.new] for c in tl.changes],
            "hovertemplate": "%{y}: %{customdata[0]} -> %{customdata[1]}<br>at %{x:.3f} s<extra></extra>",
        })
    return out


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Inflates the bundle, runs it, and resolves to window.Plotly. The plot script
# waits on it: inflating is asynchronous.
_LOADER = """<script>window.plotlyReady = (async () => {
  const packed = document.getElementById("plotly-js-gz").textContent;
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const code = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  const script = document.createElement("script");
  script.textContent = code;
  document.head.appendChild(script);
  return window.Plotly;
})();</script>
"""
_CHUNK = 3 << 16  # a multiple of 3 bytes: the pieces' base64 concatenates into one text


def write_plot(out: TextIO, fig: Figure) -> None:
    """Write the figure as a <div> with plotly.js's basic bundle inlined (no
    network needed to view it), streaming rather than holding the page as one string."""
    out.write('<script type="application/octet-stream" id="plotly-js-gz">')
    with BUNDLE.open("rb") as packed:
        while chunk := packed.read(_CHUNK):
            out.write(base64.b64encode(chunk).decode("ascii"))
    out.write("</script>\n")
    out.write(_LOADER)
    out.write(f'<div id="{DIV_ID}" class="plotly-graph-div" style="height:{fig["layout"]["height"]}px; width:100%;"></div>\n')
    out.write(f'<script type="application/json" id="{DIV_ID}-figure">')
    # "</" could close the script element early; "<\/" is the same JSON string.
    for piece in json.JSONEncoder(separators=(",", ":")).iterencode(fig):
        out.write(piece.replace("</", "<\\/"))
    out.write("</script>\n")
    out.write(f"""<script>window.plotlyReady.then((Plotly) => {{
  const fig = JSON.parse(document.getElementById("{DIV_ID}-figure").textContent);
  Plotly.newPlot("{DIV_ID}", fig.data, fig.layout, {json.dumps(CONFIG)});
}});</script>
""")
