"""What checks about one breaker share: its name, and the faults that touch it."""

from __future__ import annotations

from pydantic import Field

from chaos.checks import Check
from chaos.history.queries import Window, fault_windows
from chaos.history import History
from chaos.spec.system import System


class BreakerCheck(Check):
    breaker: str = Field(description="the breaker's edge, e.g. gateway->orders")

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.breaker not in system.breakers:
            return [(("breaker",), f"unknown breaker '{self.breaker}' (known: {', '.join(system.breakers)})")]
        return []

    def target(self, system: System) -> str:
        return system.breakers[self.breaker].target

    def faults(self, history: History, system: System) -> list[Window]:
        """The fault windows that make this breaker's downstream slow or unavailable."""
        return fault_windows(history, frozenset({self.target(system)}))
