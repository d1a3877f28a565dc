"""What checks about one breaker share: its name, and the faults that touch it."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from chaos.checks import Check
from chaos.history.queries import Window, breaker_info, fault_windows
from chaos.history.workers import Workers, breaker_workers
from chaos.history import History, Observation
from chaos.spec.system import System


class BreakerCheck(Check):
    breaker: str = Field(description="the breaker's edge, e.g. gateway->orders")

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.breaker not in system.breakers:
            return [(("breaker",), f"unknown breaker '{self.breaker}' (known: {', '.join(system.breakers)})")]
        return []

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        if self.breaker not in system.breakers:
            return []  # check_refs reports it
        owner = system.breakers[self.breaker].source
        if system.services[owner].agent is None:
            return [f"{owner} declares no agent in {system.path.name}, so its breaker {self.breaker} cannot be seen "
                    f"(install chaos.agent in {owner} and add `agent: /_chaos` to it; see docs/agent.md)"]
        return []

    def unseen(self, history: History, system: System) -> str | None:
        if breaker_info(history, self.breaker) is not None:
            return None
        owner = system.breakers[self.breaker].source
        seen = [o for o in history.of(Observation) if o.service == owner]
        if seen and not seen[-1].ok:
            return f"the breaker {self.breaker} was never observed: {seen[-1].detail}"
        if seen:
            return f"the breaker {self.breaker} was never observed: {owner}'s agent answered ({seen[-1].detail})"
        return f"the breaker {self.breaker} was never observed"

    def target(self, system: System) -> str:
        return system.breakers[self.breaker].target

    def faults(self, history: History, system: System) -> list[Window]:
        """The fault windows that make this breaker's downstream slow or unavailable."""
        return fault_windows(history, frozenset({self.target(system)}))

    def workers(self, history: History, system: System, window: Window) -> Workers | None:
        """The workers of the breaker's service that held a copy of it during
        `window`; None when its agent did not report workers (judge the one breaker seen)."""
        return breaker_workers(history, system.breakers[self.breaker].source, self.breaker, window)
