"""Asking again until an answer settles: for claims about what a system
shows within a bound ("served again within 5 s"), not at one instant."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settle(read: Callable[[], T], done: Callable[[T], bool], within: float, every: float = 0.2) -> tuple[T, float]:
    """`read()` until `done(answer)` or `within` seconds passed; the last
    answer (for the test to assert on) and the seconds it took."""
    began = time.monotonic()
    while True:
        answer = read()
        if done(answer) or time.monotonic() - began > within:
            return answer, time.monotonic() - began
        time.sleep(every)
