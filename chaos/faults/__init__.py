"""Faults: each kind is one small module, found by the name scenarios use.

A fault is a typed spec (what, where, when) with `apply(ctx) -> Handle`; the
handle's `revert()` undoes exactly what apply did and may be called more than
once. Adding a fault kind is adding a file here that defines a `Fault`
subclass with `kind: Literal["name"]` and decorates it with `@register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Protocol, Union

from pydantic import Field

from chaos.clients.agent import Agents
from chaos.history import History
from chaos.spec.model import Model, Seconds
from chaos.runtime import Runtime
from chaos.spec.system import System
from chaos.clients.toxiproxy import Toxiproxy


class Handle(Protocol):
    def revert(self) -> str:
        """Undo the fault; safe to call again. Returns a short note of what was done."""


@dataclass
class FaultContext:
    """What a fault may act through."""

    system: System
    runtime: Runtime
    toxiproxy: Toxiproxy
    history: History
    run_id: str  # names the toxics of this run, so they can be told apart
    agents: Agents  # the services' agents, for faults set inside a service


class Flap(Model):
    """On/off cycles: the fault is applied for `on`, reverted for `off`, and so on."""

    on: Seconds = Field(gt=0)
    off: Seconds = Field(gt=0)


class Instant:
    """An optional trait: a fault that happens and is over (a restart). It
    takes no duration or flap, and its end is recorded as soon as it is applied."""


class OnlyOn:
    """An optional trait: a fault kind that works on some runtimes only (a
    network partition needs Docker's networks). A scenario using it on another
    runtime is refused before anything starts."""

    runtimes: ClassVar[frozenset[str]]


def is_instant(fault: "Fault") -> bool:
    return isinstance(fault, Instant)


class Fault(Model):
    """Base of every fault spec: when it starts and how long it lasts."""

    kind: str
    at: Seconds = Field(description="when it starts, from the start of load")
    duration: Seconds | None = Field(default=None, description="how long it lasts; unset: until the scenario ends")
    flap: Flap | None = Field(default=None, description="apply and revert in cycles within the duration")

    def windows(self, scenario_end: float) -> list[tuple[float, float]]:
        """When the fault is active: one window, or one per flap cycle."""
        end = scenario_end if self.duration is None else self.at + self.duration
        if self.flap is None:
            return [(self.at, end)]
        out, t = [], self.at
        while t < end:
            out.append((t, min(end, t + self.flap.on)))
            t += self.flap.on + self.flap.off
        return out

    # A sentence that says what the fault does, for `describe` and the report.
    def describe(self) -> str:
        raise NotImplementedError

    def targets(self, system: System) -> frozenset[str]:
        """The services this fault makes slow or unavailable to their callers."""
        raise NotImplementedError

    def timeline(self, scenario_end: float) -> list[tuple[float, str]]:
        """(seconds from load start, what happens) for `chaos describe`."""
        if is_instant(self):
            return [(self.at, self.describe())]
        out = []
        for start, end in self.windows(scenario_end):
            out.append((start, self.describe()))
            if end < scenario_end or self.duration is not None:
                out.append((end, f"revert: {self.describe()}"))
        return out

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems with names this spec refers to: (field path, message) pairs."""
        return []

    def apply(self, ctx: FaultContext) -> Handle:
        raise NotImplementedError


class EdgeFault(Fault):
    """A fault on one edge, i.e. one Toxiproxy proxy."""

    edge: str = Field(description="e.g. gateway->orders")

    def targets(self, system: System) -> frozenset[str]:
        return frozenset({system.edges[self.edge].target})

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.edge not in system.edges:
            return [(("edge",), f"unknown edge '{self.edge}' (known: {', '.join(system.edges)})")]
        return []

    def proxy(self, system: System) -> str:
        return system.edges[self.edge].proxy

    def add_toxic(self, ctx: FaultContext, type: str, attributes: dict[str, int], stream: str = "downstream", toxicity: float = 1.0) -> Handle:
        """Add one toxic to this edge's proxy, named after the run so that
        reverting removes exactly it."""
        proxy = self.proxy(ctx.system)
        name = f"chaos-{ctx.run_id}-{type}-{stream}"
        ctx.toxiproxy.add_toxic(proxy, name, type, attributes, stream=stream, toxicity=toxicity)
        return ToxicHandle(ctx.toxiproxy, proxy, name)


class ServiceFault(Fault):
    """A fault on one service's processes or containers."""

    service: str

    def targets(self, system: System) -> frozenset[str]:
        return frozenset({self.service})

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        if self.service not in system.services:
            return [(("service",), f"unknown service '{self.service}' (known: {', '.join(system.services)})")]
        return []


class ToxicFault(EdgeFault):
    """A fault made of one Toxiproxy toxic on one edge.

    `toxicity` is the share of *connections* the toxic applies to: Toxiproxy
    rolls it once per connection, not per request. HTTP clients keep pooled
    keep-alive connections that carry many requests, so toxicity 0.3 can
    mean all or none of a caller's requests for a while: for a share of
    requests, use an HTTP fault instead.
    """

    toxic: ClassVar[str]
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1, description="share of connections affected (rolled per connection)")

    def attributes(self) -> dict[str, int]:
        """The toxic's attributes; Toxiproxy wants integers."""
        raise NotImplementedError

    def details(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.attributes().items())

    def describe(self) -> str:
        share = f", {self.toxicity:.0%} of connections" if self.toxicity < 1 else ""
        details = self.details()
        return f"{self.toxic}{' ' + details if details else ''} on {self.edge} ({self.stream}{share})"

    def apply(self, ctx: FaultContext) -> Handle:
        return self.add_toxic(ctx, self.toxic, self.attributes(), self.stream, self.toxicity)


@dataclass
class ToxicHandle:
    toxiproxy: Toxiproxy
    proxy: str
    name: str

    def revert(self) -> str:
        self.toxiproxy.remove_toxic(self.proxy, self.name)
        return f"removed toxic {self.name} from {self.proxy}"


FAULTS: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: make a fault kind known by its `kind` literal."""
    name = cls.model_fields["kind"].annotation.__args__[0]  # Literal["name"]
    FAULTS[name] = cls
    return cls


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_load_all()


def fault_union() -> Any:
    """The type of one fault entry in a scenario file: a union tagged by `kind`."""
    members = tuple(FAULTS.values())
    return Annotated[Union[members], Field(discriminator="kind")]  # type: ignore[valid-type]


__all__ = ["FAULTS", "EdgeFault", "Fault", "FaultContext", "Flap", "Handle", "Instant", "OnlyOn", "ServiceFault", "ToxicFault",
           "fault_union", "is_instant", "register"]
