"""Steps that a Ctrl-C or SIGTERM must not split in two.

The CLI turns SIGINT and SIGTERM into KeyboardInterrupt, which Python raises
between any two bytecodes. Between starting a process and recording its pid
that would leave a process nobody knows of, holding its port, so that every
later start fails. Such steps run with both signals held until they end.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs, then deliver the first
    one that came to the handler that was in place before. Off the main
    thread (where Python never runs signal handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in _HELD}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While the block runs, SIGTERM raises KeyboardInterrupt, and so does
    SIGINT even where the parent left it ignored (`cmd &`, some CI agents):
    a cancelled run takes the runner's rollback path. The handlers in place
    before come back afterwards. Off the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _HELD}
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if previous[signal.SIGINT] in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Interrupted(KeyboardInterrupt):
    """A run's Ctrl-C or SIGTERM, after its rollback: `outcome` says what the
    rollback did ("faults reverted, services restored"), or that it failed,
    or that the interrupt came before the run had changed anything."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome
