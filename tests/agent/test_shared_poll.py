"""The agent's poll of a breaker whose state other processes share
(chaos.agent.adapters.pybreaker.SharedAdapter): it reads the store to hear
of changes made elsewhere, but not while calls read it anyway."""

from __future__ import annotations

import time

import pybreaker

from chaos.agent.adapters.pybreaker import SharedAdapter, adapter_for


class CountingStorage(pybreaker.CircuitMemoryStorage):
    """Memory storage that says it is shared and counts reads of the state."""

    def __init__(self) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self.reads = 0

    @property
    def name(self) -> str:
        return "counted"

    @property
    def state(self) -> str:
        self.reads += 1
        return super().state

    @state.setter
    def state(self, value: str) -> None:
        pybreaker.CircuitMemoryStorage.state.fset(self, value)


class Quiet:
    """A recorder that keeps nothing."""

    def transition(self, old, new):  # type: ignore[no-untyped-def]
        pass

    def outcome(self, kind, seconds, exc=None):  # type: ignore[no-untyped-def]
        pass

    def not_permitted(self):  # type: ignore[no-untyped-def]
        pass


def make() -> tuple[SharedAdapter, CountingStorage, pybreaker.CircuitBreaker]:
    storage = CountingStorage()
    breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=30, state_storage=storage, name="orders")
    adapter = adapter_for(breaker)
    assert isinstance(adapter, SharedAdapter)
    adapter.install(Quiet())
    return adapter, storage, breaker


def poll_for(adapter: SharedAdapter, seconds: float, call=None) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if call is not None:
            call()
        adapter.poll()
        time.sleep(0.02)


def test_an_idle_breaker_is_read_every_interval():
    adapter, storage, _ = make()
    storage.reads = 0
    poll_for(adapter, 1.0)
    assert 4 <= storage.reads <= 6  # every 0.2 s


def test_while_calls_read_the_state_the_poll_does_not():
    adapter, storage, breaker = make()
    calls = 0

    def call() -> None:
        nonlocal calls
        calls += 1
        breaker.call(lambda: None)

    reads_before = storage.reads
    poll_for(adapter, 1.0, call)
    per_call = (storage.reads - reads_before) / calls
    # Only what the calls read themselves: the poll added nothing.
    solo = make()[1]
    solo_breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=30, state_storage=solo, name="x")
    solo.reads = 0
    solo_breaker.call(lambda: None)
    assert per_call == solo.reads, (storage.reads - reads_before, calls, solo.reads)
    # And once the calls stop, the poll takes over again.
    storage.reads = 0
    poll_for(adapter, 0.7)
    assert storage.reads >= 2
