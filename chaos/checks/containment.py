"""containment: routes that do not need the faulted services keep their success
rate and stay near their baseline latency while the fault lasts.

A fall in success counts only when it is both larger than `max_success_drop`
and larger than chance would give: one failed answer in 76 against none in
60 before the fault happens by chance more than half the time (a disk hog
delaying one SQLite write is enough), while a breaker-less cascade's 50% of
76 would happen by chance once in 10^11 runs. The fixed point tolerance alone
turned the first into a failure (soak, users-down, run 7 of 10).

The latency baseline is what the routes did when no fault acted: before the
first fault and, when the run leaves enough time, after the last one ended
(past `grace`). A small machine has slow moments of its own, fault or not,
and seven seconds before a fault are too few to have seen them: a soak on a
host twice as slow as usual, under the soak's hogs, had cascade's user reads
at a p99 of 183 ms before the fault, 734 ms during it and 608 ms after it,
spikes that came and went with no fault at all, and failed containment on
them. A fault that does hurt these routes (a breaker-less cascade: user
reads at 3 s while orders is slow) hurts them while it acts and not after
it, so the time after still tells. It joins the baseline only when it
looks as the time before allows (its p99 within the bound the time before
alone gives, its success no lower than chance explains): a system still
slow or failing after the fault must not lend that to the baseline. The
success rate's baseline stays the time before the fault: its chance test
already allows for noise.

The fault's time ends where undoing it began, and so does a request's:
one still unanswered then counts for the time it waited until then. Undoing
is work of its own on a shared machine (a frozen service resumed works off
the backlog of its pause, a killed one boots), not the fault spreading. In
a soak (pause-orders), user reads sent in the last 80 ms before orders was
resumed took 116-329 ms, against 10-92 ms through the whole fault, and
failed the run (p99 329 ms of 41 requests, bound 301 ms); counted up to the
undo, p99 92 ms. Cutting at that moment can only shorten what the undo
lengthened: a route slowed while the fault acted shows it in every request
answered before the undo, and in the time each one still in flight had
waited by then."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from chaos.checks import Check, JudgesLoad, Verdict, register, unknown_routes
from chaos.checks._machine import stretch
from chaos.history.queries import (Window, chance_of_as_many_failures, fault_windows, load_start, ms, odds, percentile,
                                   requests_in, run_end, sent_to)
from chaos.history import FaultEvent, History, Request
from chaos.spec.model import Seconds
from chaos.spec.system import System


@register
# JudgesLoad: success rate and p99 against the baseline, both read from the
# load's requests; a generator falling behind looks like a system slowing down.
class Containment(Check, JudgesLoad):
    kind: Literal["containment"]
    routes: list[str] | None = Field(default=None, description="default: every route that needs no faulted service")
    grace: Seconds = Field(default=3.0, description="skipped at the fault's start: the time a breaker needs to trip")
    warmup: Seconds = Field(default=1.0, description="skipped at the start of load")
    max_success_drop: float = Field(default=0.01, ge=0, le=1, description="success rate may fall this much below baseline")
    significance: float = Field(
        default=0.01, gt=0, lt=1,
        description="a larger fall fails only if chance alone would give one as large less often than this "
        "(one-sided Fisher exact test of the fault window's failures against the baseline's)",
    )
    p99_factor: float = Field(default=3.0, ge=1)
    p99_slack: Seconds = Field(default=0.25, description="p99 may grow to max(baseline x factor, baseline + slack)")
    min_requests: int = Field(default=10, ge=1)

    def title(self) -> str:
        return "unaffected routes contained" if self.routes is None else f"{', '.join(self.routes)} contained"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        return unknown_routes(self.routes, system)

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = fault_windows(history)
        if not faults:
            return self.verdict("unknown", "no fault in this run")
        faulted = frozenset(t for e in history.of(FaultEvent) for t in e.targets)
        routes = self.routes or sent_to(history, system.routes_independent_of(faulted))
        if not routes:
            return self.verdict("unknown", f"every route needs one of {', '.join(sorted(faulted))}")
        base = requests_in(history, routes, [Window(load_start(history) + self.warmup, faults[0].start)])
        # The whole incident, from the first fault (past the grace) to the last
        # one's end: flapping faults leave gaps, but the damage they do does not.
        # It ends when undoing the last fault began: starting a killed service
        # again is the toolkit's doing, and its boot (a CPU burst on a small
        # machine) slows every route alike, the fault's or not.
        incident = Window(faults[0].start + self.grace, max(f.acting_end for f in faults))
        during = requests_in(history, routes, [incident])
        if len(base) < self.min_requests or len(during) < self.min_requests:
            return self.verdict(
                "unknown", f"too few requests on {', '.join(routes)}: {len(base)} at baseline, {len(during)} during the fault"
            )
        base_good = sum(map(system.answered_as_meant, base))
        fault_good = sum(map(system.answered_as_meant, during))
        base_ok, fault_ok = base_good / len(base), fault_good / len(during)
        before_p99 = percentile([r.latency for r in base], 99)
        after = requests_in(history, routes, [Window(max(f.end for f in faults) + self.grace, run_end(history))])
        after_p99 = percentile([r.latency for r in after], 99) if after else math.nan
        quiet = base + after if self._recovered(after, after_p99, len(base) - base_good, len(base), before_p99, system) else base
        # A request still unanswered when undoing began waited on the undo too
        # (a frozen service resumed works off its backlog, a killed one boots):
        # it counts for the time it waited while the fault acted, no more.
        # Never less than that: slowness in the fault's time stays in.
        caught = sum(r.t_end > incident.end for r in during)
        fault_p99 = percentile([min(r.t_end, incident.end) - r.t_start for r in during], 99)
        base_p99 = percentile([r.latency for r in quiet], 99)
        bound = self._p99_bound(base_p99)
        baseline = (f"baseline {ms(base_p99)}: {ms(before_p99)} before the fault, {ms(after_p99)} after it"
                    if quiet is not base else f"baseline {ms(base_p99)}")
        chance = chance_of_as_many_failures(len(base) - base_good, len(base), len(during) - fault_good, len(during))
        fell = fault_ok < base_ok - self.max_success_drop
        kept_rate = not (fell and chance < self.significance)
        kept_speed = fault_p99 <= bound
        by_chance = f", a fall chance gives {odds(chance)}" if fell else ""
        evidence = (
            f"{', '.join(routes)} during the fault: success {fault_ok:.1%} (baseline {base_ok:.1%}{by_chance}), "
            f"p99 {ms(fault_p99)} ({baseline}, bound {ms(bound)}); {len(during)} requests"
            + (f", {caught} of them still unanswered when undoing the fault began, counted up to then" if caught else "")
        )
        status = "pass" if kept_rate and kept_speed else "fail"
        machine = stretch(history, [incident], [Window(load_start(history) + self.warmup, faults[0].start)]
                          + ([Window(max(f.end for f in faults) + self.grace, run_end(history))] if quiet is not base else []))
        if status == "fail" and kept_rate and machine is not None and fault_p99 <= bound * machine.factor:
            # Slower only by as much as the machine alone explains (chaos.checks._machine).
            status = "unknown"
            evidence = (f"{machine.words('during the fault', 'at baseline')}, and the p99 is within the bound "
                        f"stretched so ({ms(bound * machine.factor)}): what the fault did cannot be told from what the "
                        f"machine did (otherwise fail: {evidence})")
        return self.verdict(
            status,
            evidence,
            success=round(fault_ok, 4),
            baseline_success=round(base_ok, 4),
            success_fall_by_chance=float(f"{chance:.3g}"),
            p99_s=round(fault_p99, 4),
            baseline_p99_s=round(base_p99, 4),
            bound_s=round(bound, 4),
            requests=len(during),
            machine_factor=round(machine.factor, 3) if machine is not None else None,
        )


    def _p99_bound(self, baseline_p99: float) -> float:
        return max(baseline_p99 * self.p99_factor, baseline_p99 + self.p99_slack)

    def _recovered(self, after: list[Request], after_p99: float, base_failed: int, base_n: int, before_p99: float,
                   system: System) -> bool:
        """Whether the time after the fault may join the latency baseline: it
        has enough requests, and they look as the time before would allow,
        their p99 within the bound the time before alone gives and their
        success rate no lower than chance explains. A system still slow or
        failing after the fault must not lend that to the baseline."""
        if len(after) < self.min_requests:
            return False
        failed = sum(not system.answered_as_meant(r) for r in after)
        chance = chance_of_as_many_failures(base_failed, base_n, failed, len(after))
        return after_p99 <= self._p99_bound(before_p99) and chance >= self.significance
