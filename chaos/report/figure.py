"""The report's plot: one time axis, three rows, fault windows shaded across all.

Plotly because it is a kept library (not hand-drawn SVG) whose JavaScript can
be inlined, so the report works offline, and it gives hover details (each
request's route, status and latency) for free. The Python package ships only
the full plotly.min.js (4.8 MB, which made every report 4.9 MB); the plot
needs only plotly.js's basic bundle, vendored gzipped in `vendor/` (see its
README) and inlined as base64 that the page inflates with the browser's
DecompressionStream: about 530 KB, still one file that opens offline.

Rows: each request's latency by route (errors as red crosses, fallback
answers as open diamonds) on a log scale; the success rate and request rate
per second; each breaker's state as a coloured band.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TextIO

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from chaos.report.timeline import BREAKER_STATES, Timeline

STATE_COLOURS = {"closed": "#2ca02c", "half-open": "#ff9f1c", "open": "#d62728", "disabled": "#9e9e9e"}
ROUTE_COLOURS = ["#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#2ca02c"]
ERROR_COLOUR = "#d62728"
FAULT_COLOUR = "#7b2cbf"
DIV_ID = "timeline"
BUNDLE = Path(__file__).parent / "vendor" / "plotly-basic.min.js.gz"
CONFIG = {"displaylogo": False, "responsive": True}
# Inflates the bundle, runs it, and resolves to window.Plotly. A plot script
# waits on it: the inflating is asynchronous.
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
_CHUNK = 1 << 16


def figure(tl: Timeline) -> go.Figure:
    """The run's timeline as a plotly figure (see the module docstring for what it shows)."""
    breakers = list(dict.fromkeys(b.breaker for b in tl.bands))
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        row_heights=[0.55, 0.25, 0.2], specs=[[{}], [{"secondary_y": True}], [{}]],
        subplot_titles=("latency per request (ms, log scale)", "success rate and request rate per second", "breaker states"),
    )
    _latency(fig, tl)
    _rates(fig, tl)
    _bands(fig, tl)
    for span in tl.faults:
        # One shaded window per fault across every row: cause next to effect.
        fig.add_vrect(x0=span.start, x1=span.end, row="all", col=1, fillcolor=FAULT_COLOUR, opacity=0.12, line_width=0, layer="below")
        fig.add_annotation(x=(span.start + span.end) / 2, y=1.0, xref="x", yref="y domain", yanchor="top", showarrow=False,
                           text=f"fault: {_short(span.label)}", font={"color": FAULT_COLOUR, "size": 12})
    fig.update_xaxes(range=[0, max(tl.end, 1.0)], showgrid=True)
    fig.update_xaxes(title_text="seconds from the start of load", row=3, col=1)
    fig.update_yaxes(type="log", title_text="ms", row=1, col=1)
    fig.update_yaxes(range=[0, 105], title_text="% of requests", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="req/s", row=2, col=1, secondary_y=True, showgrid=False, rangemode="tozero")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(breakers)), row=3, col=1)
    fig.update_layout(
        template="plotly_white", height=560 + 28 * len(breakers), barmode="overlay", hovermode="closest",
        margin={"l": 70, "r": 70, "t": 70, "b": 50}, legend={"orientation": "h", "y": -0.12, "x": 0},
    )
    return fig


def _latency(fig: go.Figure, tl: Timeline) -> None:
    for i, route in enumerate(tl.routes):
        mine = [p for p in tl.points if p.route == route and p.outcome != "error"]
        fig.add_trace(go.Scatter(
            x=[p.t for p in mine], y=[max(p.latency_ms, 0.1) for p in mine], mode="markers", name=route, legendgroup="routes",
            marker={"size": 5, "color": ROUTE_COLOURS[i % len(ROUTE_COLOURS)],
                    "symbol": ["diamond-open" if p.outcome == "fallback" else "circle" for p in mine]},
            customdata=[[p.label, p.outcome] for p in mine],
            hovertemplate=f"{route}<br>%{{x:.2f}} s: %{{y:.0f}} ms, %{{customdata[0]}} (%{{customdata[1]}})<extra></extra>",
        ), row=1, col=1)
    errors = [p for p in tl.points if p.outcome == "error"]
    fig.add_trace(go.Scatter(
        x=[p.t for p in errors], y=[max(p.latency_ms, 0.1) for p in errors], mode="markers", name="errors",
        marker={"size": 7, "color": ERROR_COLOUR, "symbol": "x"}, customdata=[[p.route, p.label] for p in errors],
        hovertemplate="%{customdata[0]}<br>%{x:.2f} s: %{y:.0f} ms, %{customdata[1]}<extra>error</extra>",
    ), row=1, col=1)


def _rates(fig: go.Figure, tl: Timeline) -> None:
    sent = [b for b in tl.bins if b.sent]
    x = [b.start + b.width / 2 for b in sent]
    fig.add_trace(go.Bar(x=[b.start + b.width / 2 for b in tl.bins], y=[b.sent / b.width for b in tl.bins], width=tl.bins[0].width * 0.9,
                         name="requests/s", marker_color="#c9d6e3", opacity=0.6, hovertemplate="%{x:.1f} s: %{y:.0f} req/s<extra></extra>"),
                  row=2, col=1, secondary_y=True)
    fig.add_trace(go.Scatter(x=x, y=[100 * b.ok / b.sent for b in sent], mode="lines", name="full answers %", line={"color": "#2ca02c"},
                             hovertemplate="%{x:.1f} s: %{y:.0f}% full answers<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=[100 * (b.ok + b.fallback) / b.sent for b in sent], mode="lines", name="answered (incl. fallback) %",
                             line={"color": "#1f77b4", "dash": "dot"},
                             hovertemplate="%{x:.1f} s: %{y:.0f}% answered<extra></extra>"), row=2, col=1)


def _bands(fig: go.Figure, tl: Timeline) -> None:
    for state in BREAKER_STATES:
        mine = [b for b in tl.bands if b.state == state]
        if not mine:
            continue
        fig.add_trace(go.Bar(
            y=[b.breaker for b in mine], x=[b.end - b.start for b in mine], base=[b.start for b in mine], orientation="h",
            name=f"breaker {state}", legendgroup="breakers", marker_color=STATE_COLOURS[state], width=0.6,
            customdata=[[b.start, b.end] for b in mine],
            hovertemplate=f"%{{y}} {state}<br>%{{customdata[0]:.2f}} s to %{{customdata[1]:.2f}} s<extra></extra>",
        ), row=3, col=1)
    if tl.changes:
        fig.add_trace(go.Scatter(
            x=[c.t for c in tl.changes], y=[c.breaker for c in tl.changes], mode="markers", name="transitions", legendgroup="breakers",
            marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 2, "color": "#222"}},
            customdata=[[c.old, c.new] for c in tl.changes],
            hovertemplate="%{y}: %{customdata[0]} -> %{customdata[1]}<br>at %{x:.3f} s<extra></extra>",
        ), row=3, col=1)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_plot(out: TextIO, fig: go.Figure) -> None:
    """Write the figure as a <div> with plotly.js's basic bundle inlined (no
    network needed to view it), streaming the bundle rather than holding the
    page as one string. The figure's JSON is built once."""
    spec = fig.to_plotly_json()
    height = spec.get("layout", {}).get("height", 560)
    out.write('<script type="application/octet-stream" id="plotly-js-gz">')
    with BUNDLE.open("rb") as packed:
        while chunk := packed.read(_CHUNK * 3):  # a multiple of 3 bytes: the pieces concatenate into one base64 text
            out.write(base64.b64encode(chunk).decode("ascii"))
    out.write("</script>\n")
    out.write(_LOADER)
    out.write(f'<div id="{DIV_ID}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>\n')
    out.write(f'<script type="application/json" id="{DIV_ID}-figure">')
    # "</" could close the script element early; "<\/" is the same JSON string.
    for piece in json.JSONEncoder(separators=(",", ":"), default=_plain).iterencode({"data": spec["data"], "layout": spec["layout"]}):
        out.write(piece.replace("</", "<\\/"))
    out.write("</script>\n")
    out.write(f"""<script>window.plotlyReady.then((Plotly) => {{
  const fig = JSON.parse(document.getElementById("{DIV_ID}-figure").textContent);
  Plotly.newPlot("{DIV_ID}", fig.data, fig.layout, {json.dumps(CONFIG)});
}});</script>
""")


def _plain(value: object) -> object:
    """What json cannot encode by itself: plotly keeps some arrays as tuples or numpy arrays."""
    if hasattr(value, "tolist"):
        return value.tolist()  # type: ignore[no-any-return, attr-defined]
    raise TypeError(f"cannot encode {type(value).__name__} in the plot")
