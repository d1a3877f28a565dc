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
