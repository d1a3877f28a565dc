"""breaker_recovers: after the fault ends, the breaker goes half-open and closes
within its reset timeout plus a bound, and stays closed to the end.

"The fault" is the last one on the breaker's downstream or on the service
that holds the breaker. A service restarted by a fault holds a new breaker,
closed from the start: that counts as closed (there is no trial to watch),
where the old breaker's last transition would say open forever."""

from __future__ import annotations

from typing import Literal

from chaos.checks import LoadCanFail, Verdict, register
from chaos.checks._breaker import BreakerCheck
from chaos.history.queries import breaker_info, breaker_states, fault_windows
from chaos.history import BreakerInfo, History, Transition
from chaos.history.workers import Workers
from chaos.spec.model import Seconds
from chaos.spec.system import System


# How long after another worker's trial closed a shared breaker a worker may
# hear of it: the agent polls a shared breaker every 0.2 s; the rest is slack
# for a loaded machine (breakers_agree's default bound).
SHARED_LAG = 1.0


# Not JudgesLoad: the transitions come from the service's own breaker, not the load's timings.
# LoadCanFail: an overloaded system can keep a breaker from closing, or open one; a fail then is unknown.
@register
class BreakerRecovers(BreakerCheck, LoadCanFail):
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
        # The breaker's own service may be faulted too (stopped, paused): it
        # can recover only once that is over as well.
        owner = system.breakers[self.breaker].source
        ended = max(w.end for w in [*faults, *fault_windows(history, frozenset({owner}))])
        workers = self.workers(history, system, faults[-1])
        if workers is not None and workers.many:
            moves = sorted((t for t in history.of(Transition) if t.breaker == self.breaker), key=lambda t: t.at)
            return self._judge_workers(moves, workers, ended, info.reset_timeout)
        seen = breaker_states(history, self.breaker)
        first_open = next((at for at, state, _ in seen if state == "open"), None)
        if first_open is None:
            return self.verdict("unknown", f"{self.breaker} never opened, so there was nothing to recover from")
        bound = info.reset_timeout + self.within
        at, state, final = seen[-1]
        if state != "closed":
            return self.verdict("fail", f"{self.breaker} did not close after the fault ended (last seen {state})", bound_s=bound)
        # A fresh read after the last transition: its service restarted and
        # holds a new breaker, closed from the start (no trial to watch).
        restarted = isinstance(final, BreakerInfo) and at > first_open
        via_half_open = isinstance(final, Transition) and final.old == "half-open"
        delay = max(0.0, at - ended)
        when = f"{delay:.2f} s after the fault ended" if at >= ended else "before the fault ended"
        how = (" via half-open" if via_half_open else
               f" by a restart of {system.breakers[self.breaker].source} (a new breaker)" if restarted else ", not via half-open")
        evidence = f"{self.breaker} closed {when}{how}; bound {info.reset_timeout:g} s reset + {self.within:g} s"
        status = "pass" if (via_half_open or restarted) and delay <= bound else "fail"
        return self.verdict(status, evidence, delay_s=round(delay, 4), bound_s=bound)

    def _judge_workers(self, moves: list[Transition], workers: Workers, ended: float, reset: float) -> Verdict:
        """Several workers, each with its own copy: every worker whose breaker
        opened must close again via half-open within the bound; one that
        stays open (or was never seen) keeps the service's breaker from having recovered."""
        bound = reset + self.within
        opened = sorted({t.worker for t in moves if t.new == "open" and t.worker in workers.pids})  # type: ignore[type-var]
        if not opened:
            return self.verdict("unknown", f"{self.breaker} never opened in any of {len(workers.pids)} workers, so there "
                                "was nothing to recover from")
        late: list[str] = []
        delays: list[float] = []
        followed: list[int] = []
        for pid in opened:
            final = [t for t in moves if t.worker == pid][-1]
            delay = max(0.0, final.at - ended)
            via_trial = final.old == "half-open" or self._followed_a_trial(moves, final)
            if final.new != "closed":
                late.append(f"pid {pid} still {final.new}")
            elif not via_trial or delay > bound:
                late.append(f"pid {pid} closed {delay:.2f} s after the fault{'' if via_trial else ', not via half-open'}")
            else:
                delays.append(delay)
                if final.old != "half-open":
                    followed.append(pid)
        figures = {"workers": len(workers.pids), "workers_opened": len(opened)}
        if late:
            return self.verdict("fail", f"{len(late)} of {len(opened)} workers whose {self.breaker} opened did not recover "
                                f"within {reset:g} s reset + {self.within:g} s: {'; '.join(late)}", bound_s=bound, **figures)
        if workers.unseen:
            return self.verdict("unknown", f"{len(workers.unseen)} of {len(workers.pids)} workers never showed their "
                                f"breaker (pids {', '.join(map(str, workers.unseen))})", **figures)
        worst = max(delays)
        shared = (f" ({len(followed)} of them closed with the shared breaker, another worker's trial closing it: "
                  f"pids {', '.join(map(str, followed))})") if followed else ""
        return self.verdict("pass", f"{self.breaker} closed via half-open in all {len(opened)} workers that opened{shared}, "
                            f"the last {worst:.2f} s after the fault ended; bound {reset:g} s reset + {self.within:g} s",
                            delay_s=round(worst, 4), bound_s=bound, **figures)

    def _followed_a_trial(self, moves: list[Transition], final: Transition) -> bool:
        """Whether a worker's open -> closed followed, within `SHARED_LAG`,
        another worker's trial that closed the breaker. Only a shared breaker
        (pybreaker's Redis storage) does that: the worker reads the closed
        state another wrote, and its listener hears of it at its next call or
        poll. A breaker of its own cannot close without its own half-open."""
        return final.old == "open" and any(
            t.worker != final.worker and t.old == "half-open" and t.new == "closed" and 0 <= final.at - t.at <= SHARED_LAG
            for t in moves)
