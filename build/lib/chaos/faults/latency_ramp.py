"""latency_ramp: latency on an edge that grows in steps over the fault's
duration (or each flap's `on` time): a slow degradation, as a filling queue
or a warming disk gives, rather than a sudden stop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import pydantic
from pydantic import Field

from chaos.faults import EdgeFault, FaultContext, Handle, ToxicHandle, register
from chaos.clients.toxiproxy import Toxiproxy, ToxiproxyError


@register
class LatencyRamp(EdgeFault):
    kind: Literal["latency_ramp"]
    start: int = Field(default=0, ge=0, le=600_000, description="milliseconds at the start")
    end: int = Field(ge=0, le=600_000, description="milliseconds at the last step")
    steps: int = Field(default=5, ge=2, le=1000)
    stream: Literal["upstream", "downstream"] = "downstream"

    @pydantic.model_validator(mode="after")
    def _needs_a_length(self) -> "LatencyRamp":
        if self.duration is None and self.flap is None:
            raise ValueError("a ramp needs a duration (or flap) to spread its steps over")
        return self

    def describe(self) -> str:
        return f"latency ramp {self.start} -> {self.end} ms in {self.steps} steps on {self.edge} ({self.stream})"

    def levels(self) -> list[int]:
        span = self.end - self.start
        return [round(self.start + span * i / (self.steps - 1)) for i in range(self.steps)]

    def apply(self, ctx: FaultContext) -> Handle:
        length = self.flap.on if self.flap else (self.duration or 0.0)
        levels = self.levels()
        handle = self.add_toxic(ctx, "latency", {"latency": levels[0], "jitter": 0}, self.stream)
        assert isinstance(handle, ToxicHandle)
        ramp = _Ramp(handle, ctx.toxiproxy, levels, length / self.steps)
        ramp.thread.start()
        return ramp


@dataclass
class _Ramp:
    toxic: ToxicHandle
    toxiproxy: Toxiproxy
    levels: list[int]
    step: float
    stopped: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="latency-ramp", daemon=True)

    def _run(self) -> None:
        for level in self.levels[1:]:
            if self.stopped.wait(self.step):
                return
            try:
                self.toxiproxy.update_toxic(self.toxic.proxy, self.toxic.name, {"latency": level, "jitter": 0})
            except ToxiproxyError:
                return  # reverted under us; revert removes the toxic either way

    def revert(self) -> str:
        self.stopped.set()
        self.thread.join(timeout=5)
        return self.toxic.revert()
