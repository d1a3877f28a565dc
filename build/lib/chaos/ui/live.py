"""A live view of a run for a terminal: worth watching in a demo.

`LiveConsole` has the interface the runner uses (`t0`, `line`, `say`,
`stats`, `verdicts`) plus `close`, so the CLI can hand the runner either it
or the plain `Console` (which it does by whether stdout is a terminal).
While load runs, a panel at the bottom of the terminal shows the elapsed
time on the scenario's timeline with its fault windows, every breaker's
state, and the request and error rates of the last seconds; timeline lines
(faults, breaker transitions) scroll above it. At the end comes the verdict
table. Built on rich's `Live`, which redraws the panel four times a second
from the history the runner hands to `stats`.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console as RichConsole
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chaos.checks import Verdict, tally
from chaos.history.queries import ms, percentile
from chaos.history import History, Request
from chaos.report.timeline import current_states
from chaos.ui.console import delivery_now

KIND_STYLES = {"fault": "magenta", "breaker": "cyan", "load": "dim", "setup": "dim", "check": "bold"}
STATE_STYLES = {"closed": "green", "half-open": "bold yellow", "open": "bold white on red", "disabled": "dim"}
STATUS_STYLES = {"pass": "bold green", "fail": "bold red", "unknown": "bold yellow"}
RATE_WINDOW = 2.0  # seconds of answers the rates are taken over
BAR_WIDTH = 60


@dataclass(frozen=True)
class PlannedFault:
    at: float
    end: float | None  # None: lasts until the scenario ends
    label: str


class LiveConsole:
    """A live panel for a terminal; see the module docstring."""

    def __init__(self, title: str, duration: float, faults: list[PlannedFault], out: TextIO = sys.stdout,
                 console: RichConsole | None = None):
        self.title = title
        self.duration = duration
        self.faults = faults
        self.rich = console or RichConsole(file=out, highlight=False)
        self._t0: float | None = None
        self._history: History | None = None
        self._live: Live | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_scenario(cls, scenario: Any, subtitle: str = "", **kw: Any) -> "LiveConsole":
        """A live console showing `scenario`'s own timeline."""
        faults = [PlannedFault(f.at, f.at + f.duration if f.duration is not None else None, f.describe()) for f in scenario.faults]
        title = scenario.name + (f"  ({subtitle})" if subtitle else "")
        return cls(title, scenario.duration, faults, **kw)

    # -- the Console interface --------------------------------------------------

    @property
    def t0(self) -> float | None:
        return self._t0

    @t0.setter
    def t0(self, value: float | None) -> None:
        """Load starts: the panel appears."""
        self._t0 = value
        with self._lock:
            if value is not None and self._live is None:
                self._live = Live(console=self.rich, get_renderable=self.panel, refresh_per_second=4, transient=False)
                self._live.start()

    def line(self, kind: str, text: str, at: float | None = None) -> None:
        """One timeline line, printed above the panel."""
        at = time.time() if at is None else at
        stamp = f"+{at - self._t0:6.2f}s" if self._t0 is not None else "       "
        self.rich.print(Text.assemble("  ", (stamp, "dim"), "  ", (f"{kind:<8}", KIND_STYLES.get(kind, "")), " ", text))

    def say(self, text: str) -> None:
        self.rich.print(Text(text))

    def stats(self, history: History, window: float) -> None:
        """Nothing to print: the panel shows the rates; keep the history to draw from."""
        self._history = history

    def verdicts(self, verdicts: list[Verdict]) -> None:
        """Stop the panel, then print the verdict table and the closing count."""
        self.close()
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=False)
        table.add_column("verdict")
        table.add_column("check")
        table.add_column("evidence", overflow="fold")
        for v in verdicts:
            table.add_row(Text(v.status.upper(), STATUS_STYLES.get(v.status, "")), v.check, v.evidence)
        self.rich.print()
        self.rich.print(table)
        self.say(f"\n{tally(verdicts)}")

    def close(self) -> None:
        """Stop the panel (leaving its last frame on screen); safe to call twice."""
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    # -- drawing ----------------------------------------------------------------

    def panel(self, now: float | None = None) -> Panel:
        """The panel as it is at wall-clock time `now` (default: now)."""
        now = time.time() if now is None else now
        elapsed = now - self._t0 if self._t0 is not None else 0.0
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        phase = f"{min(elapsed, self.duration):5.1f} s of {self.duration:g} s" if elapsed <= self.duration else \
            f"load done at {self.duration:g} s; restoring and judging"
        grid.add_row("elapsed", Text.assemble(self._bar(elapsed), "  ", phase))
        for f in self.faults:
            end = f.end if f.end is not None else self.duration
            when = "now" if f.at <= elapsed < end else ("done" if elapsed >= end else "planned")
            grid.add_row("", Text.assemble((f"{f.at:g}-{end:g} s ", "magenta"), f.label, (f"  [{when}]", "bold magenta" if when == "now" else "dim")))
        grid.add_row("breakers", self._breakers(now))
        grid.add_row("load", self._rates(now) if elapsed <= self.duration else Text("stopped", "dim"))
        return Panel(grid, title=self.title, title_align="left", border_style="blue")

    def _bar(self, elapsed: float) -> Text:
        bar = Text()
        for i in range(BAR_WIDTH):
            t = (i + 0.5) * self.duration / BAR_WIDTH
            faulted = any(f.at <= t < (f.end if f.end is not None else self.duration) for f in self.faults)
            if t <= elapsed:
                bar.append("━", "bold magenta" if faulted else "bold cyan")
            else:
                bar.append("━" if faulted else "─", "magenta" if faulted else "grey42")
        return bar

    def _breakers(self, now: float) -> Text:
        if self._history is None:
            return Text("waiting for the first answers", "dim")
        states = current_states(self._history, now)
        if not states:
            return Text("none seen", "dim")
        text = Text()
        for i, (name, (state, since)) in enumerate(sorted(states.items())):
            if i:
                text.append("\n")
            text.append(f"{name:<20} ")
            text.append(f" {state} ", STATE_STYLES.get(state, ""))
            text.append(f"  for {max(0.0, now - since):.1f} s", "dim")
        return text

    def _rates(self, now: float) -> Text:
        if self._history is None:
            return Text("waiting for the first answers", "dim")
        recent = [r for r in self._history.of(Request) if now - RATE_WINDOW <= r.t_end < now]
        if not recent:
            return Text(f"no answers in the last {RATE_WINDOW:g} s", "bold red")
        errors = sum(not r.ok and r.fallback is None for r in recent) / len(recent)
        fallback = sum(r.fallback is not None for r in recent) / len(recent)
        p99 = percentile([r.latency for r in recent], 99)
        return Text.assemble(
            f"{len(recent) / RATE_WINDOW:5.1f} req/s   ", ("errors ", ""), (f"{errors:4.0%}", "bold red" if errors else "green"),
            f"   fallback {fallback:4.0%}   p99 {ms(p99)}\n", (delivery_now(self._history, now, RATE_WINDOW), "dim"),
        )
