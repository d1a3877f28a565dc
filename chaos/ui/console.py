"""What a person watching a run sees: a timeline as it happens, then verdicts."""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import TextIO

from chaos.checks import Verdict, tally
from chaos.history.queries import asked_rate, duration, ms, percentile, started_in
from chaos.history import History, LoadSending, Request

_COLOURS = {"pass": "32", "fail": "31", "unknown": "33", "fault": "35", "breaker": "36", "load": "2", "setup": "2"}


class Console:
    """Thread-safe line printer with times relative to the start of load."""

    def __init__(self, out: TextIO | None = None, colour: bool | None = None):
        self.out = out or sys.stdout  # looked up now, not at import: a redirected stdout counts
        self.colour = self.out.isatty() if colour is None else colour
        self.t0: float | None = None
        self._lock = threading.Lock()

    def _paint(self, text: str, kind: str) -> str:
        code = _COLOURS.get(kind)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def line(self, kind: str, text: str, at: float | None = None) -> None:
        """One timeline line: '  +8.01s  fault    kill orders'."""
        at = time.time() if at is None else at
        stamp = f"+{at - self.t0:6.2f}s" if self.t0 is not None else "       "
        with self._lock:
            print(f"  {stamp}  {self._paint(f'{kind:<8}', kind)} {text}", file=self.out, flush=True)

    def say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def stats(self, history: History, window: float) -> None:
        """A summary of the last `window` seconds of load."""
        now = time.time()
        recent = [r for r in history.of(Request) if now - window <= r.t_end < now]
        if not recent:
            self.line("load", f"no answers in the last {window:.0f} s  " + delivery_now(history, now, window))
            return
        errors = sum(not r.ok for r in recent) / len(recent)
        fallback = sum(r.fallback is not None for r in recent) / len(recent)
        p99 = percentile([r.latency for r in recent], 99)
        self.line("load", f"{len(recent) / window:5.1f} req/s  not ok {errors:4.0%}  fallback {fallback:4.0%}  p99 {ms(p99)}  "
                  + delivery_now(history, now, window))


    def close(self) -> None:
        """Nothing to stop (the live console's counterpart stops its panel)."""

    def verdicts(self, verdicts: list[Verdict]) -> None:
        width = max(len(v.check) for v in verdicts)
        self.say("")
        for v in verdicts:
            label = self._paint(f"{v.status.upper():<7}", v.status)
            self.say(f"  {label} {v.check:<{width}}  {v.evidence}")
        self.say(f"\n{tally(verdicts)}")


def delivery_now(history: History, now: float, window: float) -> str:
    """'sent 30.0 of 30 req/s, lag p99 1 ms, 1 in flight': what the generator
    started in the last `window` seconds against what was asked, so a lagging
    generator shows while it lags, not only in the verdicts.

    From the generator's own LoadSending records when there are any (the lag
    is then the worst half-second's p99): a request is recorded only once it
    ends, and a system slower than `window` would otherwise look as if
    nothing were sent (order-down at 1000 req/s showed "sent 0.0 of 1000
    req/s" while 960 a second went out)."""
    asked = asked_rate(history)
    of = f" of {asked:g}" if asked is not None else ""
    sending = [s for s in history.of(LoadSending) if s.at <= now]
    recent = [s for s in sending if s.at > now - window]
    if not recent:
        started = started_in(history, now - window, now)
        lag = percentile([r.t_start - r.t_sched for r in started], 99)
        return f"sent {len(started) / window:.1f}{of} req/s, lag p99 {duration(lag)}"
    before = [s for s in sending if s.at <= now - window]
    start = history.mark("load-start")
    if before:
        base = (before[-1].at, before[-1].sent, before[-1].not_sent)
    elif start is not None and start.at < recent[-1].at:
        base = (start.at, 1, 0)  # the first request goes at the start: (start, last] holds the rest
    else:
        base = (recent[0].at, recent[0].sent, recent[0].not_sent)
    last = recent[-1]
    span = last.at - base[0]
    if span <= 0:
        return f"sent {last.sent} so far, {last.in_flight} in flight"
    lags = [s.lag_p99 for s in recent if s.lag_p99 is not None]
    text = (f"sent {(last.sent - base[1]) / span:.1f}{of} req/s, lag p99 {duration(max(lags) if lags else math.nan)}, "
            f"{last.in_flight} in flight")
    if last.not_sent > base[2]:
        text += f", {(last.not_sent - base[2]) / span:.1f} req/s not sent (the generator's cap)"
    return text
