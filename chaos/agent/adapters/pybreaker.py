"""The adapter for pybreaker (1.x) breakers, subclasses included.

Transitions come through pybreaker's own listener API: `add_listener` with a
`CircuitBreakerListener` subclass, next to the breaker's own listeners.
(`observed_by` is "listener".) pybreaker has no timer: an open breaker turns
half-open only when a call arrives after `reset_timeout`, so that transition
is seen then, and `retry_at` says when it may happen.

Call outcomes and durations come from wrapping the instance's `call` (an
instance attribute over the class's method; pybreaker's decorator goes
through `self.call`, so decorated functions are seen too, and so are
subclasses that override `call`, such as the shop's GuardedBreaker):

- the function ran and returned: successful;
- it raised and `is_system_error(exc)` is true: failed, else ignored (an
  excluded exception);
- `CircuitBreakerError` raised without the function running: not permitted.

Switched off, the wrapper runs the function itself: pybreaker never sees
the call, so nothing trips, and the outcome is still recorded.

Shared storage (pybreaker's Redis storage, or any storage not named
"memory"): another process may change the state, and pybreaker tells this
process's listeners only when its next call reads the storage. Such a
breaker's adapter is `SharedAdapter` (`observed_by` "listener+poll"): the
agent's poller reads the state every 0.2 s the way a call would, so
each worker's transition is logged within 0.2 s of the change,
calls or not. Its snapshot reads the storage, so every worker reports the
shared state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pybreaker

from chaos.agent.adapters import Recorder, resolve_name, run_counted

# How long a snapshot waits for the breaker's lock. Plain pybreaker holds it
# for the whole guarded call, so a reader must not queue behind a slow
# downstream: after this it reads the storage without the lock.
LOCK_WAIT = 0.05


def accepts(obj: Any) -> bool:
    """Whether `obj` is a pybreaker CircuitBreaker (or a subclass)."""
    return isinstance(obj, pybreaker.CircuitBreaker)


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.recorder.transition(old_state.name if old_state else None, new_state.name)


class Adapter:
    """A watched pybreaker breaker (see the module docstring)."""

    library = "pybreaker"
    observed_by = "listener"

    def __init__(self, breaker: pybreaker.CircuitBreaker, name: str | None = None) -> None:
        self.breaker = breaker
        self.name = resolve_name(breaker, name)
        self._enabled = True
        self._called = 0.0  # time.monotonic() of the last guarded call's end: it read the state too

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def install(self, recorder: Recorder) -> None:
        breaker = self.breaker
        breaker.add_listener(_Listener(recorder))
        original = breaker.call  # the bound method: the class's, or a subclass override

        def classify(exc: BaseException) -> str:
            return "failed" if breaker.is_system_error(exc) else "ignored"

        def call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if not self._enabled:
                return run_counted(recorder, classify, func, args, kwargs)
            ran = False

            def guarded(*a: Any, **kw: Any) -> Any:
                nonlocal ran
                ran = True
                return run_counted(recorder, classify, func, a, kw)

            try:
                return original(guarded, *args, **kwargs)
            except pybreaker.CircuitBreakerError:
                if not ran:
                    recorder.not_permitted()
                raise
            finally:
                self._called = time.monotonic()

        call.__doc__ = original.__doc__
        breaker.call = call  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, Any]:
        breaker = self.breaker
        base = {"name": self.name, "library": self.library, "observed_by": self.observed_by,
                "fail_max": breaker.fail_max, "reset_timeout": float(breaker.reset_timeout)}
        if not self._enabled:
            return {**base, "state": "disabled", "fail_counter": 0, "opened_at": None, "retry_at": None}
        # current_state reads the storage; the `state` property could "repair"
        # the cached state object and notify listeners, which a reader must not do.
        # A storage that reads all three in one round trip says so with
        # `read_together()` (the shop's Redis storage): a shared store was
        # otherwise asked three times per breaker for each view published.
        locked = breaker._lock.acquire(timeout=LOCK_WAIT)
        try:
            together = getattr(breaker._state_storage, "read_together", None)
            if callable(together):
                state, opened, counter = together()
            else:
                state = breaker.current_state
                opened = breaker._state_storage.opened_at
                counter = breaker.fail_counter
        finally:
            if locked:
                breaker._lock.release()
        opened_at = None if opened is None else opened.timestamp()
        retry_at = opened_at + breaker.reset_timeout if state == pybreaker.STATE_OPEN and opened_at is not None else None
        return {**base, "state": state, "fail_counter": counter, "opened_at": opened_at, "retry_at": retry_at}


class SharedAdapter(Adapter):
    """A pybreaker breaker whose storage other processes share (see the module docstring)."""

    observed_by = "listener+poll"
    # Each read is a round trip to the store, in every worker: five a second
    # keeps workers within 0.2 s of each other without loading a small machine.
    interval = 0.2

    def __init__(self, breaker: pybreaker.CircuitBreaker, name: str | None = None) -> None:
        super().__init__(breaker, name)
        self._next = 0.0

    def poll(self) -> None:
        """Read the stored state as a call would, so the listeners hear of a
        change another process made; at most every `interval` seconds, and
        skipped while a call holds the lock or when one read it within the
        interval (every pybreaker call reads the state through the same
        getter: under load the calls are the poll, and the store is not asked
        five more times a second per breaker and worker for nothing)."""
        now = time.monotonic()
        if not self._enabled or now < self._next or now < self._called + self.interval:
            return
        self._next = now + self.interval
        breaker = self.breaker
        if not breaker._lock.acquire(timeout=LOCK_WAIT):
            return
        try:
            breaker.state  # noqa: B018 - pybreaker's getter notices a change made elsewhere and notifies
        finally:
            breaker._lock.release()


def adapter_for(breaker: pybreaker.CircuitBreaker, name: str | None = None) -> Adapter:
    """The adapter for `breaker`: polled when its storage is shared."""
    storage = getattr(breaker, "_state_storage", None)
    shared = storage is not None and getattr(storage, "name", "memory") != "memory"
    return (SharedAdapter if shared else Adapter)(breaker, name)
