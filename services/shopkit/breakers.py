"""Circuit breakers for the services' downstream edges, and what they report.

Every edge (gateway -> users, gateway -> orders, orders -> inventory) has one
breaker named after the downstream service, made by `BreakerBoard.add` from the
app's config. The board's `RecordingListener` (`shopkit.breaker_events`)
counts what each breaker does and logs its state transitions with wall-clock
times, for `/breakers` and the long-polled `/breakers/transitions`.

Why `GuardedBreaker.call` is hand-written (pybreaker pitfall 1)
--------------------------------------------------------------
pybreaker 1.4.1's `CircuitBreaker.call` holds the breaker's lock, an RLock, for
the *whole* guarded call, not only while it decides. When a downstream hangs
until the read timeout, every request through that breaker queues behind the
one in flight: with 8 threads and a 1 s timeout the eighth caller waits 8 s.
The breaker, meant to stop slowness spreading, spreads it.

`GuardedBreaker` keeps pybreaker's states, storage, counters and listener
callbacks, and overrides only `call`: the lock is held to admit or reject a
call and again to record its outcome, never while the downstream works.

- closed: admit.
- open: before `reset_timeout` has passed since `opened_at`, reject at once
  with `pybreaker.CircuitBreakerError`; after it, move to half-open and admit
  this call as the one trial.
- half-open: while the trial is in flight, reject every other call at once.
- outcome: handed to the current state's `_handle_success`/`_handle_error`
  (so pybreaker's own rules trip, close and reopen), but only if the breaker
  is still in the state it was in when the call was admitted. Calls now
  overlap, so an outcome can arrive late: a slow success admitted while closed
  must not close a breaker that opened meanwhile, and a late failure must not
  reopen a breaker that a trial has just closed. A generation counter, bumped
  on every state change, tells the two apart; a stale outcome still reaches
  the listeners' `success`/`failure` callbacks (it was a real call) but moves
  no state.

Pitfall 2: open -> half-open is lazy
------------------------------------
pybreaker has no timer. An open breaker becomes half-open only when the next
call arrives after `reset_timeout`, so its stored state says "open" for as long
as nobody calls. `/breakers` therefore reports that stored state together with
`retry_at` (`opened_at + reset_timeout`): past `retry_at`, the next call will
be the trial.

`BREAKERS=off` gives `PassThroughBreaker`s instead: same interface, calls go
straight through, counted but never tripping, reported as "disabled".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
from pybreaker import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, CircuitBreakerError

from shopkit.breaker_events import BOOT_ID, BreakerListener, RecordingListener, TransitionLog

__all__ = [
    "BOOT_ID",
    "STATE_CLOSED",
    "STATE_DISABLED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "BreakerBoard",
    "BreakerListener",
    "CircuitBreakerError",
    "GuardedBreaker",
    "PassThroughBreaker",
    "RecordingListener",
    "TransitionLog",
]

T = TypeVar("T")

STATE_DISABLED = "disabled"


def _notify_outcome(cb: pybreaker.CircuitBreaker, exc: BaseException | None) -> None:
    """Tell the listeners how a call ended, by the breaker's own failure rules."""
    for listener in cb.listeners:
        if exc is not None and cb.is_system_error(exc):
            listener.failure(cb, exc)
        else:
            listener.success(cb)


class GuardedBreaker(pybreaker.CircuitBreaker):
    """A pybreaker CircuitBreaker whose lock is never held during the guarded call.

    Use `call(func, *args, **kwargs)`. pybreaker's generator, `calling()` and
    Tornado support are not carried over: nothing here needs them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._generation = 0
        self._trial_in_flight = False
        super().__init__(*args, **kwargs)

    # pybreaker changes state only through this setter (open, half_open, close
    # and the storage refresh in the getter), so it is the one place to count
    # generations and to forget a trial that a state change has made moot.
    @property
    def state(self) -> Any:
        return pybreaker.CircuitBreaker.state.fget(self)

    @state.setter
    def state(self, state_str: str) -> None:
        with self._lock:
            self._generation += 1
            self._trial_in_flight = False
            pybreaker.CircuitBreaker.state.fset(self, state_str)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `func(*args, **kwargs)` if the breaker admits it, and record the outcome.

        Raises `CircuitBreakerError` at once, without calling `func`, while the
        breaker is open or its half-open trial is in flight. Otherwise returns
        what `func` returns or raises what it raises (or, when
        `throw_new_error_on_trip` is set, the `CircuitBreakerError` of a call
        that trips the breaker).
        """
        generation, is_trial = self._admit(func, args, kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._record(generation, is_trial, exc)
            raise
        self._record(generation, is_trial, None)
        return result

    def snapshot(self) -> dict[str, Any]:
        """The stored state and counters, read consistently under the lock.

        `opened_at` is when the breaker last opened (epoch seconds, None if
        never); `retry_at` is when an open breaker will admit its trial call,
        None unless the stored state is open.
        """
        # Under the lock: pybreaker updates the state object and the storage
        # in two steps, and an unlocked reader between them would see (and,
        # through the `state` getter, even "repair") a mix of the two.
        with self._lock:
            state = self.current_state
            opened = self._state_storage.opened_at
            opened_at = None if opened is None else opened.timestamp()
            retry_at = None
            if state == STATE_OPEN and opened_at is not None:
                retry_at = opened_at + self.reset_timeout
            return {
                "name": self.name,
                "state": state,
                "fail_counter": self.fail_counter,
                "fail_max": self.fail_max,
                "reset_timeout": self.reset_timeout,
                "opened_at": opened_at,
                "retry_at": retry_at,
            }

    def _admit(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[int, bool]:
        with self._lock:
            if self.state.name == STATE_OPEN:
                if not self._reset_timeout_elapsed():
                    self._reject("Timeout not elapsed yet, circuit breaker still open")
                self.half_open()
            is_trial = self.state.name == STATE_HALF_OPEN
            if is_trial:
                if self._trial_in_flight:
                    self._reject("Trial call in flight, circuit breaker half-open")
                self._trial_in_flight = True
            for listener in self.listeners:
                listener.before_call(self, func, *args, **kwargs)
            return self._generation, is_trial

    def _record(self, generation: int, is_trial: bool, exc: BaseException | None) -> None:
        with self._lock:
            if generation != self._generation:
                _notify_outcome(self, exc)
                return
            if is_trial:
                # Cleared here as well as on the state change the outcome
                # usually causes: with success_threshold > 1 a successful
                # trial leaves the breaker half-open, ready for the next one.
                self._trial_in_flight = False
            if exc is None:
                self.state._handle_success()
            else:
                # May raise: pybreaker re-raises `exc`, or raises
                # CircuitBreakerError, on the call that trips the breaker.
                self.state._handle_error(exc, reraise=False)

    def _reset_timeout_elapsed(self) -> bool:
        opened_at = self._state_storage.opened_at
        if opened_at is None:
            return True
        return datetime.now(UTC) >= opened_at + timedelta(seconds=self.reset_timeout)

    def _reject(self, message: str) -> None:
        for listener in self.listeners:
            if isinstance(listener, BreakerListener):
                listener.rejected(self, message)
        raise CircuitBreakerError(message)


class PassThroughBreaker(pybreaker.CircuitBreaker):
    """The breaker used when breakers are off: every call runs, nothing trips.

    Listeners still hear `before_call`, `success` and `failure`, so the call
    counts stay comparable with a run that has breakers on.
    """

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `func(*args, **kwargs)` and return or raise what it does."""
        for listener in self.listeners:
            listener.before_call(self, func, *args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _notify_outcome(self, exc)
            raise
        _notify_outcome(self, None)
        return result

    def snapshot(self) -> dict[str, Any]:
        """The same shape as GuardedBreaker.snapshot, with state "disabled"."""
        return {
            "name": self.name,
            "state": STATE_DISABLED,
            "fail_counter": 0,
            "fail_max": self.fail_max,
            "reset_timeout": self.reset_timeout,
            "opened_at": None,
            "retry_at": None,
        }


class BreakerBoard:
    """The breakers of one service, their counters and their transition log."""

    def __init__(self, *, enabled: bool, fail_max: int, reset_timeout: float) -> None:
        self.enabled = enabled
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self.log = TransitionLog()
        self.listener = RecordingListener(self.log)
        self._breakers: dict[str, GuardedBreaker | PassThroughBreaker] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BreakerBoard:
        """A board set up from BREAKERS, BREAKER_FAIL_MAX and BREAKER_RESET_TIMEOUT."""
        return cls(
            enabled=config["BREAKERS"],
            fail_max=config["BREAKER_FAIL_MAX"],
            reset_timeout=config["BREAKER_RESET_TIMEOUT"],
        )

    def add(
        self, name: str, exclude: Iterable[type[BaseException] | Callable[[BaseException], bool]] = ()
    ) -> GuardedBreaker | PassThroughBreaker:
        """Create the breaker named `name` (one per downstream) and return it.

        `exclude` lists exception types or predicates that are not failures:
        pybreaker counts a call raising one of them as a success. The call
        that trips the breaker raises its own exception, not
        CircuitBreakerError, so callers can tell what went wrong.
        """
        if name in self._breakers:
            raise ValueError(f"breaker {name!r} already exists")
        kind = GuardedBreaker if self.enabled else PassThroughBreaker
        breaker = kind(
            name=name,
            fail_max=self.fail_max,
            reset_timeout=self.reset_timeout,
            exclude=list(exclude),
            listeners=[self.listener],
            throw_new_error_on_trip=False,
        )
        self._breakers[name] = breaker
        return breaker

    def get(self, name: str) -> GuardedBreaker | PassThroughBreaker:
        """The breaker named `name`; KeyError if there is none."""
        return self._breakers[name]

    def describe(self) -> list[dict[str, Any]]:
        """Every breaker's state and counters, as served by GET /breakers."""
        return [self._describe(breaker) for breaker in self._breakers.values()]

    def _describe(self, breaker: GuardedBreaker | PassThroughBreaker) -> dict[str, Any]:
        stats = self.listener.stats(breaker.name)
        failures_by_reason = stats["failures"]
        return {
            **breaker.snapshot(),
            "calls": stats["calls"],
            "successes": stats["successes"],
            "failures": sum(failures_by_reason.values()),
            "failures_by_reason": failures_by_reason,
            "rejections": stats["rejections"],
        }
