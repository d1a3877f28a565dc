"""How much longer the machine alone made the system's work take in one
window than in another: for the latency checks that compare a window with a
baseline taken at other moments (containment, steady_state).

Each run records, a second at a time, the CPU the system's own units ran on
and how long their threads waited, runnable, for a CPU (chaos.engine.pressure,
from schedstat). On a shared CPU each runnable task gets its turn
(processor sharing): work that needs one second of CPU and waits three for
it takes four. So `1 + wait / cpu` over a window is how stretched the
system's CPU work was then, the system's own figure, not the machine's
pressure. The failure in a 100-run soak under a CPU and a disk hog
(inventory-flaky: user reads at a p99 of 1165 ms during the fault against
246 ms before it) came with the shop's threads waiting 18.5 s for a CPU per
second they ran, against 6.8 s before the fault, on the same CPU (1.05
cores against 1.12).

A latency that broke its bound only by as much as that growth can explain is
no evidence against the system: the check says unknown ("otherwise fail"),
with both stretches. Only the growth the system did not cause itself counts:
the factor is the stretch's growth divided by the growth of the units' own
CPU use, so a fault that makes the system burn more CPU (a retry storm)
explains nothing away. Where the fault made the system wait rather than
work (a breaker-less call waiting out its timeout), the stretch falls, the
factor is 1 and a fail stays a fail; so it was for every scenario that
breakers-off turns red.

No such figures (a runtime that gives no process groups: Docker, swarm), or
a window with under 3 s of whole samples: no factor, and the checks judge as
before.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.history import History, Pressure
from chaos.history.queries import Share, Window, units_share

MIN_SECONDS = 3.0  # of samples in a window, below which it has no share: a second or two is one moment


@dataclass(frozen=True)
class Stretch:
    """The judged window against its reference (see the module docstring)."""

    judged: Share
    reference: Share

    @property
    def factor(self) -> float:
        """How many times longer the machine alone made the work take: the
        stretch's growth less the units' own growth in CPU use; at least 1."""
        grown = self.judged.stretch / self.reference.stretch
        asked_more = max(1.0, self.judged.cores / self.reference.cores)
        return max(1.0, grown / asked_more)

    def words(self, judged: str, reference: str) -> str:
        j, r = self.judged, self.reference
        return (f"the system's own units waited {j.wait:.1f} s for a CPU per second they ran {judged} "
                f"against {r.wait:.1f} s {reference}, on {j.cores:.2f} cores against {r.cores:.2f}: "
                f"this machine alone made their work take {self.factor:.2f}x as long")


def share(history: History, windows: list[Window]) -> Share | None:
    """The units' share over the samples lying wholly inside `windows`; None
    with under MIN_SECONDS of them."""
    found = units_share(p for p in history.of(Pressure)
                        if any(w.start <= p.at - p.interval and p.at <= w.end for w in windows))
    return found if found is not None and found.seconds >= MIN_SECONDS else None


def stretch(history: History, judged: list[Window], reference: list[Window]) -> Stretch | None:
    """The judged windows' share against the reference windows'; None when
    either has no figures."""
    j, r = share(history, judged), share(history, reference)
    return Stretch(j, r) if j is not None and r is not None else None
