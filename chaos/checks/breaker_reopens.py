"""breaker_reopens: when the trial call of a half-open breaker fails (the
service is still, or again, broken), the breaker opens again at once instead
of letting traffic through."""

from __future__ import annotations

from typing import Literal

from chaos.checks import Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history import History, Transition
from chaos.spec.system import System


# Not JudgesLoad: the transitions come from the service's own breaker, not the load's timings.
@register
class BreakerReopens(BreakerCheck):
    kind: Literal["breaker_reopens"]

    def title(self) -> str:
        return f"breaker {self.breaker} re-opens on a failed trial"

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = self.faults(history, system)
        if not faults:
            return self.verdict("unknown", f"no fault in this run touched {self.target(system)}")
        moves = sorted((t for t in history.of(Transition) if t.breaker == self.breaker), key=lambda t: t.at)
        trials = [t for t in moves if t.new == "half-open" and any(f.holds(t.at) for f in faults)]
        if not trials:
            return self.verdict("fail", f"{self.breaker} made no trial (never went half-open) while the fault lasted")
        reopened = [t for t in moves if t.old == "half-open" and t.new == "open" and any(f.holds(t.at) for f in faults)]
        if not reopened:
            closed = [t for t in moves if t.old == "half-open" and t.new == "closed" and any(f.acting(t.at) for f in faults)]
            why = "it closed on a trial while the fault lasted" if closed else "no trial outcome was seen"
            return self.verdict("fail", f"{len(trials)} trials during the fault, none re-opened the breaker: {why}")
        # Several workers, each with its own copy: one whose trial closed its
        # breaker while the fault lasted lets traffic through, whatever the
        # others did. Only while it acted: a trial that reaches a killed
        # service already starting again rightly closes the breaker.
        closed_on_trial = sorted({t.worker for t in moves if t.worker is not None and t.old == "half-open"
                                  and t.new == "closed" and any(f.acting(t.at) for f in faults)})
        if closed_on_trial:
            return self.verdict("fail", f"{len(reopened)} failed trials re-opened {self.breaker}, but in workers "
                                f"{', '.join(map(str, closed_on_trial))} a trial closed it while the fault lasted",
                                reopened=len(reopened), trials=len(trials))
        t0 = faults[0].start
        when = ", ".join(f"+{t.at - t0:.1f} s" for t in reopened[:5])
        return self.verdict("pass", f"{len(reopened)} failed trials re-opened {self.breaker} (at {when} after the fault started)",
                            reopened=len(reopened), trials=len(trials))
