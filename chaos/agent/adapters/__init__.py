"""Breaker adapters: one small module per breaker library, behind one protocol.

`ChaosAgent.watch(breaker)` asks `adapt(breaker)` for an adapter. Each
registered library maps to an adapter module with two names:

- `accepts(obj) -> bool`: is `obj` a breaker of this library?
- `Adapter(breaker, name)`: a `BreakerAdapter` for it (`name` overrides the
  breaker's own name; ValueError when neither gives one).

A library's module is imported only when the library itself is already
imported (a breaker of a library nobody imported cannot exist), so the agent
never imports pybreaker or circuitbreaker on its own. Supporting another
library is one more module and one `register("library", "your.module")`.

The adapter promises:

- `name`, `library` (e.g. "pybreaker") and `observed_by`: how it sees the
  breaker's transitions: "listener" (the library's own listener API),
  "wrap" (by wrapping the breaker's calls), "wrap+poll" (wrapping, plus
  polling for changes that only time makes, such as open -> half-open) or
  "listener+poll" (the listener API, plus polling for changes another
  process made to a shared storage);
- `snapshot()`: the breaker's `state` (closed, open, half-open, disabled),
  `fail_max`, `reset_timeout`, `fail_counter`, `opened_at`, `retry_at`
  (epoch seconds or None) plus name, library and observed_by;
- `install(recorder)`: hook the breaker so that every transition and every
  call outcome (successful / failed / ignored with its duration, or
  not permitted) reaches the `Recorder`; the breaker's own listeners and
  callers keep working;
- `set_enabled(False)`: the breakers-off switch: every call runs, outcomes
  are still recorded, nothing trips, snapshot says "disabled".

An adapter that must poll also implements `Pollable` (`poll()`), which the
agent calls from one daemon thread every `poll_interval` seconds.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class Recorder(Protocol):
    """Where an adapter reports (chaos.agent.recorder.BreakerRecorder)."""

    def transition(self, old: str | None, new: str) -> None: ...
    def outcome(self, kind: str, seconds: float, exc: BaseException | None = None) -> None: ...
    def not_permitted(self) -> None: ...


@runtime_checkable
class BreakerAdapter(Protocol):
    """What the agent needs of a watched breaker (see the module docstring)."""

    name: str
    library: str
    observed_by: str

    def snapshot(self) -> dict[str, Any]: ...
    def install(self, recorder: Recorder) -> None: ...
    def set_enabled(self, enabled: bool) -> None: ...


@runtime_checkable
class Pollable(Protocol):
    """An adapter that must look at its breaker now and then."""

    def poll(self) -> None: ...


# library (top-level module name) -> adapter module
_REGISTRY: dict[str, str] = {
    "pybreaker": "chaos.agent.adapters.pybreaker",
    "circuitbreaker": "chaos.agent.adapters.circuitbreaker",
}


def register(library: str, module: str) -> None:
    """Use adapter module `module` for breakers of `library` (its top-level module name)."""
    _REGISTRY[library] = module


def libraries() -> list[str]:
    """The libraries an adapter is registered for."""
    return list(_REGISTRY)


def adapt(breaker: Any, name: str | None = None) -> BreakerAdapter:
    """The adapter for `breaker`; TypeError when no registered library knows it."""
    for library, module in _REGISTRY.items():
        if library not in sys.modules:
            continue
        adapters = importlib.import_module(module)
        if adapters.accepts(breaker):
            # A module may choose among its adapters (pybreaker: shared storage is polled).
            return getattr(adapters, "adapter_for", adapters.Adapter)(breaker, name)
    raise TypeError(
        f"cannot watch {type(breaker).__module__}.{type(breaker).__qualname__}: adapters exist for "
        f"{', '.join(_REGISTRY)}; for another library write a BreakerAdapter (name, library, observed_by, "
        "snapshot(), install(recorder), set_enabled(bool)) and register it with "
        "chaos.agent.adapters.register(library, module)"
    )


def run_counted(recorder: Recorder, classify: Callable[[BaseException], str],
                func: Callable[..., T], args: tuple, kwargs: dict) -> T:
    """Run `func(*args, **kwargs)`, report its outcome and duration, and
    return or raise what it does. `classify` says whether an exception is
    "failed" or "ignored" by the breaker's own rules."""
    started = time.perf_counter()
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        recorder.outcome(classify(exc), time.perf_counter() - started, exc)
        raise
    recorder.outcome("successful", time.perf_counter() - started)
    return result


def resolve_name(breaker: Any, name: str | None) -> str:
    """`name`, else the breaker's own name; ValueError when neither is a non-empty string."""
    chosen = name or getattr(breaker, "name", None)
    if not isinstance(chosen, str) or not chosen:
        raise ValueError(f"the breaker {breaker!r} has no name: give it one, or watch(breaker, name=...)")
    return chosen


__all__ = ["BreakerAdapter", "Pollable", "Recorder", "adapt", "libraries", "register", "resolve_name", "run_counted"]
