"""Fixtures of the agent's tests: the demo app once per breaker library,
every agent closed afterwards (see helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .helpers import Demo, make_demo


@pytest.fixture
def demos() -> Iterator[Callable[..., Demo]]:
    """`demos(lib, **config)` -> Demo; every agent made is closed afterwards."""
    made: list[Demo] = []

    def make(lib: str, **config: Any) -> Demo:
        made.append(make_demo(lib, **config))
        return made[-1]

    yield make
    for demo in made:
        demo.agent.close()


@pytest.fixture(params=["pybreaker", "circuitbreaker"])
def demo(request: pytest.FixtureRequest, demos: Callable[..., Demo]) -> Demo:
    """The demo app, once per breaker library."""
    return demos(request.param)
