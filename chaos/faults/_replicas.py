"""Which replicas a replica-level fault acts on: `replicas: 1` (a count),
`replicas: 50%` (a share, at least one) or `replicas: all`. Only a runtime
with the Replicated ability runs replicas (the swarm runtime)."""

from __future__ import annotations

import math
import re

from chaos.errors import SetupError
from chaos.runtime import Replicated, Runtime

SHARE = re.compile(r"^(\d{1,3})%$")


def check_replicas(value: int | str | None) -> int | str | None:
    """A validator for the `replicas` field: a count of 1 or more, a share 1%-100%, or all."""
    if value is None or value == "all":
        return value
    if isinstance(value, int):
        if value < 1:
            raise ValueError("a count of replicas must be 1 or more")
        return value
    m = SHARE.match(value)
    if not m or not 1 <= int(m.group(1)) <= 100:
        raise ValueError(f"expected a count (1), a share (50%) or all, not '{value}'")
    return value


def how_many(value: int | str, total: int) -> int:
    """The number of replicas `value` means out of `total` running (a share rounds up)."""
    if value == "all":
        return total
    if isinstance(value, int):
        return min(value, total)
    return max(1, math.ceil(total * int(value[:-1]) / 100))


def words(value: int | str) -> str:
    """'1 replica', '2 replicas', '50% of the replicas', 'every replica'."""
    if value == "all":
        return "every replica"
    if isinstance(value, int):
        return f"{value} replica{'s' if value != 1 else ''}"
    return f"{value} of the replicas"


def replicated(runtime: Runtime, kind: str) -> Replicated:
    """The runtime as Replicated, or a SetupError for a runtime without replicas."""
    if not isinstance(runtime, Replicated):
        raise SetupError(f"{kind} with replicas: needs a runtime that runs replicas (--runtime swarm), not {type(runtime).__name__}")
    return runtime
