"""The dashboard's buttons: every fault of the catalogue that fits the system.

Each control is one fault of the fault registry (chaos.faults), built the way
a scenario file would build it, so a button does exactly what the same line
in a scenario does and is recorded the same way. Which controls exist is read
from the system file: kill and pause for every service, latency, down and
reset on every edge, and HTTP 500s for every service with an agent (only the
agent can answer a request with an error from inside the service).
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.faults import FAULTS, Fault
from chaos.spec.system import System

# A latency three times the shop's read timeout: the cascade's trigger.
EDGE_LATENCY_MS = 3000
HTTP_ERROR_SHARE = 0.9


@dataclass(frozen=True)
class Control:
    """One button: a fault that can be applied and reverted."""

    id: str  # e.g. "kill:orders", "latency:gateway->orders"
    label: str  # what it does, e.g. "kill orders"
    short: str  # what the button says beside its target's name, e.g. "kill"
    group: str  # "service" or "edge"
    target: str  # the service or edge it acts on
    fault: Fault

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "short": self.short, "group": self.group, "target": self.target,
                "describe": self.fault.describe()}


def catalogue(system: System) -> dict[str, Control]:
    """Every control that fits `system`, by id, in the order the page shows them."""
    found: list[Control] = []
    for name, spec in system.services.items():
        found.append(_control("kill", f"kill {name}", "kill", "service", name, service=name))
        found.append(_control("pause", f"pause {name}", "pause", "service", name, service=name))
        if spec.agent is not None:
            found.append(_control("http_error", f"{name} answers 500s", "500s", "service", name, service=name,
                                  share=HTTP_ERROR_SHARE, status=500))
    for name in system.edges:
        slow = f"+{EDGE_LATENCY_MS / 1000:g} s"
        found.append(_control("latency", f"{name} {slow}", slow, "edge", name, edge=name, latency=EDGE_LATENCY_MS))
        found.append(_control("down", f"{name} down", "down", "edge", name, edge=name))
        found.append(_control("reset_peer", f"{name} reset", "reset", "edge", name, edge=name, timeout=0))
    return {c.id: c for c in found}


def _control(kind: str, label: str, short: str, group: str, target: str, **fields: object) -> Control:
    fault = FAULTS[kind].model_validate({"kind": kind, "at": 0, **fields})
    return Control(f"{kind}:{target}", label, short, group, target, fault)
