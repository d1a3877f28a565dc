"""The live terminal view: what its panel shows mid-run, and that it hands
over to the verdict table; the plain console stays what pipes and CI get."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console as RichConsole

from chaos.checks import Verdict
from chaos.ui.console import Console
from chaos.history import History, Mark
from chaos.ui.live import LiveConsole, PlannedFault

from .histories import BREAKER, T0, run


def _live(width: int = 110) -> tuple[LiveConsole, io.StringIO]:
    out = io.StringIO()
    rich = RichConsole(file=out, force_terminal=True, width=width, color_system="truecolor")
    return LiveConsole("order-down", 30.0, [PlannedFault(8.0, 18.0, "kill orders")], console=rich), out


def _shifted(history: History, to: float) -> History:
    """The synthetic history moved so that its load starts at wall-clock `to`."""
    import dataclasses

    shift = to - T0
    moved = []
    for e in history:
        fields = {f: getattr(e, f) + shift for f in ("at", "seen_at", "t_sched", "t_start", "t_end") if hasattr(e, f)}
        moved.append(dataclasses.replace(e, **fields))
    return History(moved)


def _text(live: LiveConsole, now: float | None = None) -> str:
    rich = RichConsole(file=io.StringIO(), width=110, record=True)
    rich.print(live.panel(now))
    return rich.export_text()


def test_the_panel_shows_elapsed_time_the_fault_the_breakers_and_the_rates():
    live, _ = _live()
    now = time.time()
    live._t0 = now - 10.0  # ten seconds into load, inside the fault window (not started: no Live thread needed)
    live.stats(_shifted(run(opens_at=8.3), now - 10.0), 2.0)
    text = _text(live, now)
    assert "10.0 s of 30 s" in text
    assert "kill orders" in text and "[now]" in text
    assert BREAKER in text and " open " in text and "for 1.7 s" in text
    share = int(re.search(r"fallback\s+(\d+)%", text).group(1))
    assert "req/s" in text and 40 <= share <= 60, text  # half the load is profile, answered by the fallback


def test_after_the_fault_the_breaker_shows_closed_again_and_the_fault_done():
    live, _ = _live()
    now = time.time()
    live._t0 = now - 25.0
    live.stats(_shifted(run(opens_at=8.3), now - 25.0), 2.0)
    text = _text(live, now)
    assert "[done]" in text and " closed " in text and " open " not in text
    assert "errors   0%" in text


def test_before_any_answer_the_panel_says_it_waits():
    live, _ = _live()
    live._t0 = time.time()
    assert "waiting for the first answers" in _text(live)


def test_lines_scroll_above_and_verdicts_end_the_live_view():
    live, out = _live()
    live.t0 = time.time()  # starts the Live display
    live.stats(History([Mark("load-start", time.time())]), 2.0)
    live.line("fault", "kill orders (SIGKILL)")
    live.line("breaker", f"{BREAKER}  closed -> open")
    time.sleep(0.3)  # a refresh or two
    live.verdicts([Verdict("breaker opens", "pass", "opened 0.17 s after"), Verdict("fails fast", "fail", "p99 1000 ms")])
    assert live._live is None  # stopped
    text = out.getvalue()
    assert "kill orders (SIGKILL)" in text and "closed -> open" in text
    assert "PASS" in text and "FAIL" in text and "p99 1000 ms" in text
    assert text.rstrip().endswith("1 passed, 1 failed")
    live.close()  # twice is harmless


def test_both_consoles_offer_what_the_runner_uses():
    for name in ("line", "say", "stats", "verdicts", "close"):
        assert callable(getattr(Console, name)) and callable(getattr(LiveConsole, name)), name
    plain = Console(io.StringIO())
    plain.t0 = time.time()
    plain.close()
