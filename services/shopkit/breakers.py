"""Circuit breakers for the services' downstream edges.

Every edge (gateway -> users, gateway -> orders, orders -> inventory) has one
breaker named after the downstream service, made by `BreakerBoard.add` from the
app's config and handed to the app's chaos agent (`chaos.agent.ChaosAgent.watch`),
which reports its state, counters and transitions under /_chaos and owns the
breakers-off switch (CHAOS_BREAKERS=off: every call runs, state "disabled").
What is left here is what is the shop's own: the breaker class.

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
as nobody calls. The agent's /_chaos/breakers therefore reports that stored
state together with `retry_at` (`opened_at + reset_timeout`): past `retry_at`,
the next call will be the trial.

With the agent on, it wraps each breaker's `call` (an instance attribute over
this class's method), so GuardedBreaker.call still decides and the agent only
times and counts: a call refused here raises CircuitBreakerError without
running the function, which the agent counts as not permitted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pybreaker
from pybreaker import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, CircuitBreakerError

from chaos.agent import ChaosAgent
from shopkit import breaker_store

__all__ = [
    "STATE_CLOSED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "BreakerBoard",
    "CircuitBreakerError",
    "GuardedBreaker",
]

T = TypeVar("T")


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

    def _admit(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[int, bool]:
        with self._lock:
            state = self.state.name  # one read: with shared storage each read is a round trip
            is_trial = False
            if state in (STATE_OPEN, STATE_HALF_OPEN):
                if state == STATE_OPEN and not self._reset_timeout_elapsed():
                    self._reject("Timeout not elapsed yet, circuit breaker still open")
                if self._trial_in_flight:
                    self._reject("Trial call in flight, circuit breaker half-open")
                if not self._claim_trial():
                    self._reject("Trial call in flight in another worker, circuit breaker half-open")
                # Read again once the trial is ours: the trial before it, in
                # another worker, may have closed or reopened the breaker.
                state = self.state.name
                if state == STATE_OPEN:
                    if not self._reset_timeout_elapsed():
                        self._release_trial()
                        self._reject("Timeout not elapsed yet, circuit breaker still open")
                    self.half_open()
                    state = STATE_HALF_OPEN
                if state == STATE_HALF_OPEN:
                    is_trial = self._trial_in_flight = True
                else:
                    self._release_trial()
            for listener in self.listeners:
                listener.before_call(self, func, *args, **kwargs)
            return self._generation, is_trial

    def _claim_trial(self) -> bool:
        """Whether this process may send the half-open trial. Shared storage
        (shopkit.breaker_store) lets one worker of all of them; memory storage
        has one process, whose own `_trial_in_flight` suffices."""
        claim = getattr(self._state_storage, "claim_trial", None)
        return True if claim is None else claim(max(self.reset_timeout, 1.0))

    def _release_trial(self) -> None:
        release = getattr(self._state_storage, "release_trial", None)
        if release is not None:
            release()

    def _record(self, generation: int, is_trial: bool, exc: BaseException | None) -> None:
        with self._lock:
            # Read the state first: with shared storage another worker may have
            # moved it meanwhile, which bumps the generation and makes this
            # outcome stale (pybreaker #24: a late failure re-opening a breaker,
            # pushing its half-open time back, or reopening one a trial closed).
            state = self.state  # the getter notices a change made elsewhere; read once (shared storage: a round trip)
            try:
                if generation != self._generation:
                    _notify_outcome(self, exc)
                    return
                if is_trial:
                    # Cleared here as well as on the state change the outcome
                    # usually causes: with success_threshold > 1 a successful
                    # trial leaves the breaker half-open, ready for the next one.
                    self._trial_in_flight = False
                if exc is None:
                    state._handle_success()
                else:
                    # May raise: pybreaker re-raises `exc`, or raises
                    # CircuitBreakerError, on the call that trips the breaker.
                    state._handle_error(exc, reraise=False)
            finally:
                if is_trial:  # after the outcome is stored: the next trial sees what this one did
                    self._release_trial()

    def _reset_timeout_elapsed(self) -> bool:
        opened_at = self._state_storage.opened_at
        if opened_at is None:
            return True
        return datetime.now(UTC) >= opened_at + timedelta(seconds=self.reset_timeout)

    def _reject(self, message: str) -> None:
        raise CircuitBreakerError(message)


class BreakerBoard:
    """The breakers of one service, each watched by the service's chaos agent."""

    def __init__(self, agent: ChaosAgent, *, fail_max: int, reset_timeout: float,
                 storage: Callable[[str], pybreaker.CircuitBreakerStorage] | None = None) -> None:
        self.agent = agent
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._storage = storage or (lambda name: pybreaker.CircuitMemoryStorage(STATE_CLOSED))
        self._breakers: dict[str, GuardedBreaker] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], agent: ChaosAgent) -> BreakerBoard:
        """A board set up from BREAKER_FAIL_MAX, BREAKER_RESET_TIMEOUT and
        BREAKER_STORAGE (memory, or redis at REDIS_URL: every worker of the
        service shares each breaker). ValueError naming a bad key."""
        client = breaker_store.client_for(config)
        # fresh: the app is built when the service starts (in gunicorn's master,
        # before the fork), and a service started anew starts with closed breakers.
        return cls(agent, fail_max=config["BREAKER_FAIL_MAX"], reset_timeout=config["BREAKER_RESET_TIMEOUT"],
                   storage=lambda name: breaker_store.make_storage(config, name, client, fresh=True))

    def add(
        self, name: str, exclude: Iterable[type[BaseException] | Callable[[BaseException], bool]] = ()
    ) -> GuardedBreaker:
        """Create the breaker named `name` (one per downstream), have the agent
        watch it, and return it.

        `exclude` lists exception types or predicates that are not failures:
        pybreaker counts a call raising one of them as a success (the agent
        reports it as ignored). The call that trips the breaker raises its
        own exception, not CircuitBreakerError, so callers can tell what
        went wrong.
        """
        if name in self._breakers:
            raise ValueError(f"breaker {name!r} already exists")
        breaker = GuardedBreaker(
            name=name,
            fail_max=self.fail_max,
            reset_timeout=self.reset_timeout,
            exclude=list(exclude),
            throw_new_error_on_trip=False,
            state_storage=self._storage(name),
        )
        self._breakers[name] = self.agent.watch(breaker)
        return breaker

    def get(self, name: str) -> GuardedBreaker:
        """The breaker named `name`; KeyError if there is none."""
        return self._breakers[name]
