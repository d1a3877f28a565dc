"""Building blocks shared by the typed system and scenario files."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import pydantic
from pydantic import BeforeValidator

# One day: nothing in a scenario is meant to last longer, and a bound keeps a
# typo like `at: 10000000` from scheduling a fault next year.
MAX_SECONDS = 86_400.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(value: Any) -> float:
    """'250ms' -> 0.25, '3s' -> 3.0, '2m' -> 120.0, 1.5 -> 1.5 (seconds)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 3s or 250ms")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected a duration such as 3s or 250ms")
        number, unit = float(match.group(1)), match.group(2) or "s"
        seconds = number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    else:
        raise ValueError("expected a duration such as 3s or 250ms")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be zero or more")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration must be at most {MAX_SECONDS:.0f} s")
    return seconds


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class Model(pydantic.BaseModel):
    """Immutable, strict about unknown fields: a typo is an error, not a default."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def model_vocabulary(*models: type[pydantic.BaseModel]) -> set[str]:
    """Every field name (and alias) of the given models and their nested models,
    for 'did you mean' hints."""
    seen: set[type] = set()
    words: set[str] = set()

    def walk(model: type[pydantic.BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            words.add(info.alias or name)
            for sub in _models_in(info.annotation):
                walk(sub)

    for m in models:
        walk(m)
    return words


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    found: list[type[pydantic.BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    return found
