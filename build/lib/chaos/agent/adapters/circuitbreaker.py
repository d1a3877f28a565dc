"""The adapter for circuitbreaker (2.x) breakers: wrap + poll.

circuitbreaker has no hooks, and its decorator's wrapper reads the
`opened` property itself before it calls `self.call` (an open breaker never
reaches `call`; it raises CircuitBreakerError or runs the fallback function).
So the adapter swaps the instance's class for a generated subclass
(`Watched<Class>`, one per breaker class) that overrides:

- `opened`: a True answer read by the library's own decorator wrapper (known
  by its code object, not by name) is a not-permitted call; switched off it
  answers False, so the wrapper always goes on to `call`;
- `call`: times the function and records successful / failed / ignored by
  the breaker's own `is_failure` predicate; switched off it runs the function
  without the breaker (nothing trips);
- `__exit__`: switched off, does nothing, so generator and async calls (which
  go through `with self`) cannot trip the breaker either.

Transitions: the adapter compares the breaker's `state` with the last one it
saw before and after every call, on every `opened` read, and from a poll
(the agent's daemon thread, every 50 ms by default), because open -> half_open
happens in this library only through time passing (`state` derives it from
the monotonic clock). Hence `observed_by` "wrap+poll". A transition is
recorded when it is seen, so its time is accurate to the poll interval.

Only plain synchronous calls are timed and counted; generator and async
calls run as the library runs them, seen only through their transitions.
`fail_max` is the failure threshold, `reset_timeout` the recovery timeout;
`opened_at` converts the library's monotonic time to epoch seconds.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import circuitbreaker

from chaos.agent.adapters import Recorder, resolve_name, run_counted

_ATTR = "_chaos_agent_adapter"
_STATES = {"closed": "closed", "open": "open", "half_open": "half-open"}


def _nested_code(code: types.CodeType) -> set[types.CodeType]:
    found = set()
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= {const, *_nested_code(const)}
    return found


# The code of the wrappers made by CircuitBreaker.decorate: reads of `opened`
# from them are admission checks; reads from anywhere else (a monitor) are not.
_DECORATOR_CODE = frozenset(
    _nested_code(circuitbreaker.CircuitBreaker._decorate_sync.__code__)
    | _nested_code(circuitbreaker.CircuitBreaker._decorate_async.__code__)
)
_watched_classes: dict[type, type] = {}
_classes_lock = threading.Lock()


def accepts(obj: Any) -> bool:
    """Whether `obj` is a circuitbreaker CircuitBreaker (or a subclass)."""
    return isinstance(obj, circuitbreaker.CircuitBreaker)


def _watched_class(base: type) -> type:
    with _classes_lock:
        if base in _watched_classes:
            return _watched_classes[base]

        class Watched(base):  # type: ignore[valid-type, misc]
            @property
            def opened(self) -> bool:
                adapter: Adapter = getattr(self, _ATTR)
                if not adapter.enabled:
                    return False
                adapter.poll()
                is_open = super().opened
                if is_open and adapter.recorder is not None and sys._getframe(1).f_code in _DECORATOR_CODE:
                    adapter.recorder.not_permitted()
                return is_open

            def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
                adapter: Adapter = getattr(self, _ATTR)
                return adapter.call(super().call, func, args, kwargs)

            def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> bool:
                if not getattr(self, _ATTR).enabled:
                    return False
                return super().__exit__(exc_type, exc_value, tb)

        Watched.__name__ = Watched.__qualname__ = f"Watched{base.__name__}"
        Watched.__module__ = base.__module__
        _watched_classes[base] = Watched
        return Watched


class Adapter:
    """A watched circuitbreaker breaker (see the module docstring)."""

    library = "circuitbreaker"
    observed_by = "wrap+poll"

    def __init__(self, breaker: circuitbreaker.CircuitBreaker, name: str | None = None) -> None:
        self.breaker = breaker
        self.name = resolve_name(breaker, name)
        self.enabled = True
        self.recorder: Recorder | None = None
        self._lock = threading.Lock()
        self._last: str | None = None
        self._opened_at: float | None = None

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled

    def install(self, recorder: Recorder) -> None:
        breaker = self.breaker
        with self._lock:
            self._last = self._state()
        self.recorder = recorder
        setattr(breaker, _ATTR, self)
        breaker.__class__ = _watched_class(type(breaker))

    def _classify(self, exc: BaseException) -> str:
        return "failed" if self.breaker.is_failure(type(exc), exc) else "ignored"

    def call(self, library_call: Callable[..., Any], func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """Run one `breaker.call(func, ...)`: through the library when on, around it when off."""
        recorder = self.recorder
        if recorder is None:
            return library_call(func, *args, **kwargs)
        if not self.enabled:
            return run_counted(recorder, self._classify, func, args, kwargs)
        self.poll()
        try:
            return library_call(lambda *a, **kw: run_counted(recorder, self._classify, func, a, kw), *args, **kwargs)
        finally:
            self.poll()

    def poll(self) -> None:
        """Record a transition if the breaker's state differs from the last one seen."""
        if not self.enabled or self.recorder is None:
            return
        with self._lock:  # held while recording, so transitions keep their order
            now = self._state()
            if now == self._last:
                return
            old, self._last = self._last, now
            if now == "open":
                self._opened_at = self._epoch_opened()
            self.recorder.transition(old, now)

    def _state(self) -> str:
        state = str(self.breaker.state)
        return _STATES.get(state, state)

    def _epoch_opened(self) -> float:
        # The library stamps `_opened` with time.monotonic().
        return time.time() - (time.monotonic() - self.breaker._opened)

    def snapshot(self) -> dict[str, Any]:
        breaker = self.breaker
        base = {"name": self.name, "library": self.library, "observed_by": self.observed_by,
                "fail_max": breaker._failure_threshold, "reset_timeout": float(breaker._recovery_timeout)}
        if not self.enabled:
            return {**base, "state": "disabled", "fail_counter": 0, "opened_at": None, "retry_at": None}
        state = self._state()
        opened_at = self._epoch_opened() if breaker._state == circuitbreaker.STATE_OPEN else self._opened_at
        retry_at = opened_at + breaker._recovery_timeout if state == "open" and opened_at is not None else None
        return {**base, "state": state, "fail_counter": breaker.failure_count, "opened_at": opened_at,
                "retry_at": retry_at}
