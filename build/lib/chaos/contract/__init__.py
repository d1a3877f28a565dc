"""The agent's contract, written once: JSON Schemas of every reply and body.

A service's chaos agent (`chaos.agent`) answers by these schemas and the
toolkit's client reads by them. This package is pure standard library so
both sides, and any other reader, can load it without the rest of the toolkit.

    from chaos.contract import CONTRACT_VERSION, schema
    schema("breakers")   # the JSON Schema (draft 2020-12) of GET /_chaos/breakers

Names: index, breakers, transitions, assaults (the assault state, GET and
DELETE replies), assault (the PUT/POST body), error (every error reply).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

CONTRACT_VERSION = 1
NAMES = ("index", "breakers", "transitions", "assaults", "assault", "error")


def schema(name: str, version: int = CONTRACT_VERSION) -> dict[str, Any]:
    """The JSON Schema called `name` of contract `version` (a fresh copy).

    ValueError for a name or version that does not exist.
    """
    return json.loads(_text(name, version))


@lru_cache(maxsize=None)
def _text(name: str, version: int) -> str:
    if name not in NAMES:
        raise ValueError(f"no contract schema {name!r}; expected one of {', '.join(NAMES)}")
    folder = resources.files(__name__) / f"v{version}"
    if not folder.is_dir():
        raise ValueError(f"no contract version {version}; this package has version {CONTRACT_VERSION}")
    return (folder / f"{name}.schema.json").read_text(encoding="utf-8")


__all__ = ["CONTRACT_VERSION", "NAMES", "schema"]
