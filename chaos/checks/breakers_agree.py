"""breakers_agree: every worker of a multi-process service holds the same
breaker state while a fault touches it (no worker keeps calling a broken
downstream while another has given up on it).

pybreaker's default memory storage keeps one breaker per process: under
gunicorn -w 4 the four copies trip one by one, each after its own share of
failed calls, and disagree meanwhile. Shared storage (pybreaker's Redis
state) makes them one. A disagreement shorter than `within` is tolerated:
workers learn of a shared state at their next call, not at the same instant.
"""

from __future__ import annotations

from typing import Literal

from chaos.checks import Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history import History
from chaos.history.workers import disagreements
from chaos.spec.model import Seconds
from chaos.spec.system import System


# Not JudgesLoad: the states come from the workers' own breakers, not the load's timings.
@register
class BreakersAgree(BreakerCheck):
    kind: Literal["breakers_agree"]
    within: Seconds = 1.0  # the longest a disagreement may last

    def title(self) -> str:
        return f"every worker agrees on breaker {self.breaker}"

    def evaluate(self, history: History, system: System) -> Verdict:
        faults = self.faults(history, system)
        if not faults:
            return self.verdict("unknown", f"no fault in this run touched {self.target(system)}")
        owner = system.breakers[self.breaker].source
        worst = None
        most = 0
        for fault in faults:
            workers = self.workers(history, system, fault)
            if workers is None:
                return self.verdict("unknown", f"{owner}'s agent does not report its workers (an agent before "
                                    "per-worker views): whether they agree cannot be seen")
            if workers.unseen:
                return self.verdict("unknown", f"{len(workers.unseen)} of {len(workers.pids)} workers of {owner} never "
                                    f"showed their breaker (pids {', '.join(map(str, workers.unseen))})")
            most = max(most, len(workers.pids))
            if not workers.many:
                continue
            for d in disagreements(history, self.breaker, workers, fault):
                if worst is None or d.length > worst[0].length:
                    worst = (d, fault, len(workers.pids))
        if worst is None and most <= 1:
            return self.verdict("pass", f"{owner} ran one worker process: its {self.breaker} is the service's", longest_s=0.0)
        if worst is None:
            return self.verdict("pass", f"the {most} workers of {owner} never disagreed on {self.breaker} during "
                                f"{len(faults)} fault{'s' if len(faults) > 1 else ''}", longest_s=0.0)
        d, fault, n = worst
        evidence = (f"per-process breakers: the {n} workers of {owner} disagreed on {self.breaker} for {d.length:.2f} s "
                    f"from +{d.start - fault.start:.2f} s into the fault ({fault.label}): open in {len(d.tripped)} "
                    f"(pids {', '.join(map(str, d.tripped))}) while {', '.join(map(str, d.closed))} stayed closed; "
                    f"bound {self.within:g} s")
        status = "fail" if d.length > self.within else "pass"
        return self.verdict(status, evidence, longest_s=round(d.length, 4), bound_s=self.within)
