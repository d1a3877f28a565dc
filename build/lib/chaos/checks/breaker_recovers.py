"""breaker_recovers: after the fault ends, the breaker goes half-open and closes
within its reset timeout plus a bound, and stays closed to the end."""

from __future__ import annotations

from typing import Literal

from chaos.checks import Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import breaker_info
from chaos.history import History, Transition
from chaos.spec.model import Seconds
from chaos.spec.system import System


# Not JudgesLoad: the transitions come from the service's own breaker, not the load's timings.
@register
class BreakerRecovers(BreakerCheck):
    kind: Literal["breaker_recovers"]
    within: Seconds = 2.0  # beyond the breaker's reset timeout

    def title(self) -> str:
        return f"breaker {self.breaker} recovers"

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = self.faults(history, system)
        if not faults:
            return self.verdict("unknown", f"no fault in this run touched {self.target(system)}")
        info = breaker_info(history, self.breaker)
        if info is None:
            return self.verdict("unknown", f"the breaker {self.breaker} was never observed")
        if not info.enabled:
            return self.verdict("unknown", f"breakers are off: {self.breaker} has nothing to recover from")
        ended = faults[-1].end
        moves = sorted((t for t in history.of(Transition) if t.breaker == self.breaker), key=lambda t: t.at)
        if not any(t.new == "open" for t in moves):
            return self.verdict("unknown", f"{self.breaker} never opened, so there was nothing to recover from")
        bound = info.reset_timeout + self.within
        final = moves[-1]
        if final.new != "closed":
            return self.verdict("fail", f"{self.breaker} did not close after the fault ended (last seen {final.new})", bound_s=bound)
        via_half_open = final.old == "half-open"
        delay = max(0.0, final.at - ended)
        when = f"{delay:.2f} s after the fault ended" if final.at >= ended else "before the fault ended"
        evidence = (
            f"{self.breaker} closed {when}{' via half-open' if via_half_open else ', not via half-open'}; "
            f"bound {info.reset_timeout:g} s reset + {self.within:g} s"
        )
        status = "pass" if via_half_open and delay <= bound else "fail"
        return self.verdict(status, evidence, delay_s=round(delay, 4), bound_s=bound)
