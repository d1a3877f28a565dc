"""fails_fast: while the breaker is open, the routes behind it answer at once,
with the fallback answer, instead of waiting out the read timeout.

"At once" is relative, not a tuned number: an answer behind an open breaker
must come back within a fifth of the read timeout of what the same moment
allows. The reference is the p99 of the routes that do not need the
downstream at all, over the same open windows: a machine that stalls for 300 ms
(a busy CPU, a disk flush) slows those just as much, and failing fast means
answering as fast as a call that never goes near the downstream. When the
judged routes' own p99 before the fault is higher, that is the reference: their
own work costs more (a write behind a syncing disk, where the others only
read), and the breaker cannot make it cheaper. Without
such routes, or with no open window (breakers off: those routes may be
slow from the very cascade judged here), it is the judged routes' own p99
before the fault.
A gateway so saturated that every route is slow is containment's to judge.

A reference so slow that the bound reaches the read timeout cannot tell
failing fast from waiting: a call that waited out the whole timeout would
be under it too. Answers under such a bound are unknown, not a pass (seen
in CI on a starved machine: a bound of 1080 ms against a 1 s timeout),
unless they tell it themselves: a p99 under the read timeout less the
margin says that 99% of them came back sooner than any call that waited
out the timeout could, by more than the margin, and that passes (seen in a
soak: place-order's own p99 before the fault 1.1 s, a SQLite write behind
the disk hog, and 52 ms behind the open breaker, which writes nothing).
Answers over such a bound are unknown too: a call that waits on the
downstream waits at most the read timeout, and a reference past the timeout
says the machine's own slowness is larger than that, so the excess proves
no wait (seen in a soak: place-order at 2.4 s behind the open breaker, the
routes that need no downstream at 1.7 s, against a 500 ms timeout). A breaker
that never opened fails whatever the machine, and so does a missing
fallback: those need no bound to be told. On such a machine the
fallback share is judged only on what can be told too. A request waits its
turn in the caller for seconds, so one that starts inside an open window as
the load sees it may reach the breaker after it closed (a full answer) or
get no answer before the load gives up on it (a timeout): neither says the
open breaker let a call through. Seen in a soak on a host twice as slow as
usual under the soak's hogs: every route's p99 at 3 s, 6 such full answers
and 6 timeouts among 138 place-orders made 91% fallback answers against
95%. Only when every missing fallback is one of those is the share unknown;
an error answer behind the open breaker still fails.

With breakers on, a breaker that never opened during the fault fails the
check whatever the latency: a killed downstream refuses connections at once
with no breaker at all, so fast answers alone would prove speed, not the
breaker. (With breakers off there is nothing to open; the latency decides.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from chaos.checks import JudgesLoad, Verdict, blind_routes, register, unknown_routes
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import Window, breaker_info, load_start, ms, percentile, requests_in, sent_to, state_windows
from chaos.history import History
from chaos.spec.model import Seconds
from chaos.spec.system import System

# A trial request leaves the load generator a few ms before the service takes
# it as the trial (it is in transit, the breaker's clock is a little behind):
# the judged open window ends this much before the reset timeout.
TRIAL_MARGIN = 0.1


@register
# JudgesLoad: a p99 and a fallback share over the load's requests; a generator
# that starts requests late or not at all skews both.
class FailsFast(BreakerCheck, JudgesLoad):
    kind: Literal["fails_fast"]
    routes: list[str] | None = Field(default=None, description="default: every route that needs the breaker's downstream")
    p99_below: Seconds | None = Field(default=None, description="a fixed bound instead of reference + margin")
    margin: Seconds | None = Field(default=None, description="how much slower than the reference; default: a fifth of the read timeout")
    fallback_share: float = Field(default=0.95, ge=0, le=1, description="share of answers that must be the fallback")
    settle: Seconds = Field(
        default=0.5,
        description="skipped after the breaker opens: requests queued behind calls already in flight "
        "when it opened drain then (containment judges that queueing)",
    )
    grace: Seconds = Field(default=3.0, description="with no open window: how much of the fault's start to skip")
    min_requests: int = Field(default=10, ge=1)
    open_only: bool = Field(
        default=False,
        description="judge only while the breaker is open; with no open window, unknown (chaos explore: a fault "
        "under the read timeout trips no breaker and need not be fast)",
    )

    def title(self) -> str:
        return f"{self.breaker} fails fast" + (" while open" if self.open_only else "")

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return super().check_refs(system) + unknown_routes(self.routes, system)

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        own = super().blind_spots(system, mix)
        if own or self.breaker not in system.breakers or self.fallback_share == 0:
            return own
        return blind_routes(self.routes or system.routes_depending_on(frozenset({self.target(system)})), system)

    def _refusing(self, history: History) -> float:
        """How long after opening the breaker surely refuses every call: its
        reset timeout, less TRIAL_MARGIN. From then on the next call is the
        half-open trial, which goes to the downstream and may take up to the
        read timeout; a breaker that turns half-open lazily (pybreaker)
        reports the transition only once that call has arrived, so the
        trial's request starts inside the "open" window as the load
        generator's clock sees it."""
        info = breaker_info(history, self.breaker)
        if info is None or info.reset_timeout <= 0:
            return math.inf
        return max(0.0, info.reset_timeout - TRIAL_MARGIN)

    def evaluate(self, history: History, system: System) -> Verdict:
        routes = self.routes or sent_to(history, system.routes_depending_on(frozenset({self.target(system)})))
        faults = self.faults(history, system)
        refusing = self._refusing(history)
        windows = [
            Window(w.start + self.settle, min(w.end, w.start + refusing))
            for w in state_windows(history, self.breaker, "open")
            if any(f.start <= w.start < f.end for f in faults) and min(w.length, refusing) > self.settle
        ]
        where = "while open"
        if not windows and self.open_only:
            return self.verdict("unknown", f"{self.breaker} was never open long enough to judge (open_only)")
        info = breaker_info(history, self.breaker)
        # With breakers on, a breaker that never opened cannot be what made
        # answers fast: a killed service refuses connections in a millisecond
        # with no breaker at all. Fast answers then prove speed, not the breaker.
        unopened = not windows and info is not None and info.enabled
        if not windows:
            # No open window: judge the fault itself, past the time a breaker needs to trip.
            windows = [Window(f.start + self.grace, f.end) for f in faults if f.length > self.grace]
            where = "during the fault (the breaker never opened)"
        if not windows:
            return self.verdict("unknown", f"no fault touched {self.target(system)} long enough to judge")
        sample = requests_in(history, routes, windows)
        if len(sample) < self.min_requests:
            return self.verdict("unknown", f"only {len(sample)} requests on {', '.join(routes)} {where}; need {self.min_requests}")
        timeout = system.edge_read_timeout(self.breaker)
        bound, basis = self._bound(history, system, routes, windows, faults[0].start, timeout,
                                   while_open=where == "while open")
        p99 = percentile([r.latency for r in sample], 99)
        fallback = sum(r.fallback is not None for r in sample) / len(sample)
        fast = p99 <= bound
        served = fallback >= self.fallback_share
        evidence = (
            f"p99 of {', '.join(routes)} {where}: {ms(p99)} (bound {ms(bound)}: {basis}); "
            f"{fallback:.0%} fallback answers over {len(sample)} requests"
        )
        why_not = [why for bad, why in (
            (unopened, "the breaker is on but never opened, so it refused no call: fast answers came from elsewhere"),
            (not fast, "not fast"),
            (not served, f"too few fallback answers (bound {self.fallback_share:.0%})"),
        ) if bad]
        if why_not:
            evidence += "; failed: " + "; ".join(why_not)
        margin = self._margin(timeout)
        reaches = self.p99_below is None and bound >= timeout
        too_slow = reaches and p99 > timeout - margin
        if reaches and not too_slow and not why_not:
            evidence += (f"; the bound reaches the {ms(timeout)} read timeout, but the p99 is under it less the margin "
                         f"({ms(timeout - margin)}): 99% of these answers came sooner than any call that waited it out")
        missing = [r for r in sample if r.fallback is None]
        full = sum(r.status is not None and 200 <= r.status < 300 for r in missing)
        gave_up = sum(r.status is None and r.error == "timeout" for r in missing)
        # A missing fallback that queueing explains (see the module docstring).
        untold = too_slow and not served and full + gave_up == len(missing)
        blind = too_slow and not unopened and (served or untold)
        if blind:
            evidence = evidence.split("; failed: ")[0]
            if fast:
                evidence += (f"; but that bound reaches the {ms(timeout)} read timeout: a call that waited out the "
                             f"timeout would be under it too, so this machine was too slow to tell failing fast from waiting")
            else:
                evidence += (f"; over that bound, but the bound reaches the {ms(timeout)} read timeout: a wait on the "
                             f"downstream costs at most the timeout, less than the machine's own slowness at that moment, "
                             f"so this machine was too slow to tell failing fast from waiting")
            if untold:
                evidence += (f"; nor could it tell the fallback share (bound {self.fallback_share:.0%}): of the "
                             f"{len(missing)} answers that were no fallback, {full} were full answers and {gave_up} "
                             f"timed out in the load, as requests that queued for seconds and reached the breaker "
                             f"after it closed or never would")
        return self.verdict(
            "unknown" if blind else "pass" if not why_not else "fail",
            evidence,
            p99_s=round(p99, 4),
            bound_s=round(bound, 4),
            fallback_share=round(fallback, 4),
            requests=len(sample),
            opened=where == "while open",
        )

    def _margin(self, timeout: float) -> float:
        """How much slower than the reference an answer may be: a fifth of the read timeout unless set."""
        return self.margin if self.margin is not None else timeout / 5

    def _bound(self, history: History, system: System, routes: list[str], windows: list[Window],
               fault_start: float, timeout: float, while_open: bool) -> tuple[float, str]:
        """The p99 bound and how it was reached, in words (see the module docstring).
        The routes that do not need the downstream are the reference only
        while the breaker is open: without an open breaker (breakers off)
        they may be slow for the very reason judged here, a cascade."""
        if self.p99_below is not None:
            return self.p99_below, "set in the scenario"
        margin = self._margin(timeout)
        why_margin = f"+ {ms(margin)}" + ("" if self.margin is not None else f", a fifth of the {ms(timeout)} read timeout")
        others = sent_to(history, system.routes_independent_of(frozenset({self.target(system)})))
        control = requests_in(history, others, windows) if while_open else []
        before = requests_in(history, routes, [Window(load_start(history) + 1.0, fault_start)])
        own = percentile([r.latency for r in before], 99) if len(before) >= self.min_requests else None
        if len(control) >= self.min_requests:
            reference = percentile([r.latency for r in control], 99)
            basis = f"p99 of {', '.join(others)} at the same time {ms(reference)}"
            if own is not None and own > reference:
                # The judged routes' own work may cost more than the others'
                # at any time: place-order stores an order (a SQLite commit,
                # slow behind a busy disk) where the reads store nothing.
                # Failing fast is no slower than that work plus the margin.
                reference, basis = own, f"their own p99 before the fault {ms(own)} (of {', '.join(others)} now: {ms(reference)})"
            return reference + margin, f"{basis} {why_margin}"
        if own is not None:
            return own + margin, f"their own p99 before the fault {ms(own)} {why_margin}"
        return margin, f"{ms(margin)}, a fifth of the {ms(timeout)} read timeout" if self.margin is None else "the margin"
