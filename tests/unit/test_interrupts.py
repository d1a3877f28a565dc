"""Interrupts land where rollback can handle them: never between starting a
process and recording it, and a run interrupted before it watched anything
still rolls back without tripping over its own watcher."""

import os
import signal

import pytest

from chaos.history import History
from chaos.engine.interrupts import deferred
from chaos.engine.observe import BreakerWatcher


@pytest.fixture
def handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_signal_inside_waits_for_the_end_of_the_block(handlers):
    seen = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(("handled", signum)))
    with deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        seen.append("block done")
    assert seen == ["block done", ("handled", signal.SIGTERM)]  # once, after the block


def test_ctrl_c_inside_becomes_keyboard_interrupt_after_the_block(handlers):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("recorded")
    assert steps == ["recorded"]


def test_an_ignored_signal_stays_ignored(handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as during the runner's rollback
    with deferred():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_a_watcher_stopped_before_it_started_does_not_raise(system):
    # A run interrupted in its set-up reaches the watcher's stop() in its rollback.
    BreakerWatcher(system, History()).stop()
