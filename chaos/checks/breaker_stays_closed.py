"""breaker_stays_closed: a fault the system should tolerate must NOT trip the
breaker (a breaker that opens on harmless latency turns a slow moment into
an outage)."""

from __future__ import annotations

from typing import Literal

from chaos.checks import LoadCanFail, Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import breaker_info, fault_windows
from chaos.history import History, Transition
from chaos.spec.system import System


# Not JudgesLoad: the transitions come from the service's own breaker, not the load's timings.
# LoadCanFail: an overloaded system can keep a breaker from closing, or open one; a fail then is unknown.
@register
class BreakerStaysClosed(BreakerCheck, LoadCanFail):
    kind: Literal["breaker_stays_closed"]

    def title(self) -> str:
        return f"breaker {self.breaker} stays closed"

    def evaluate(self, history: History, system: System) -> Verdict:
        info = breaker_info(history, self.breaker)
        if info is None:
            return self.verdict("unknown", f"the breaker {self.breaker} was never observed")
        if not info.enabled:
            return self.verdict("unknown", f"breakers are off: {self.breaker} could not have opened")
        # Any fault counts: the point is often a fault one hop further away
        # (cascade) that this breaker must not react to.
        faults = fault_windows(history)
        if not faults:
            return self.verdict("unknown", "no fault in this run")
        opened = [t for t in history.of(Transition) if t.breaker == self.breaker and t.new == "open"]
        if opened:
            first = min(t.at for t in opened) - faults[0].start
            when = f"{first:.2f} s after" if first >= 0 else f"{-first:.2f} s before"
            return self.verdict("fail", f"{self.breaker} opened {len(opened)} times, first {when} the fault started",
                                opened=len(opened))
        return self.verdict("pass", f"{self.breaker} stayed closed through {faults[0].label} ({faults[0].length:.1f} s)", opened=0)
