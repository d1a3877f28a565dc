"""The agent's settings: each read from `app.config`, else the environment.

| key                 | default           | meaning                                        |
|---------------------|-------------------|------------------------------------------------|
| CHAOS_AGENT         | off               | on/off: off registers nothing at all           |
| CHAOS_AGENT_PREFIX  | /_chaos           | where the agent's endpoints live               |
| CHAOS_AGENT_TOKEN   | (none)            | a bearer token that may control from anywhere  |
| CHAOS_BREAKERS      | on                | off: watched breakers pass every call through  |
| CHAOS_SERVICE       | the app's import name | the service name in every reply            |
| CHAOS_AGENT_SHARED_DIR | (derived)      | where a service's workers share their views (chaos.agent.workers) |

On/off words: on, true, 1, yes / off, false, 0, no, "" (any case). Any other
word is a ValueError naming the key, so a typo stops the app at start-up
instead of silently meaning off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask

ON_WORDS = frozenset({"on", "true", "1", "yes"})
OFF_WORDS = frozenset({"off", "false", "0", "no", ""})


def _raw(app: Flask, key: str, default: Any) -> Any:
    if key in app.config:
        return app.config[key]
    return os.environ.get(key, default)


def switch(app: Flask, key: str, default: bool) -> bool:
    """The on/off setting `key` of `app`; ValueError naming `key` for any other word."""
    value = _raw(app, key, None)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    raise ValueError(f"{key}={value!r}: expected on or off (on/true/1/yes or off/false/0/no)")


@dataclass(frozen=True)
class Settings:
    """What the agent was told at start-up."""

    enabled: bool
    prefix: str = "/_chaos"
    token: str | None = None
    breakers: bool = True
    service: str = ""
    shared_dir: str | None = None

    @classmethod
    def from_app(cls, app: Flask) -> Settings:
        """Read every setting of `app` (config first, else environment); ValueError for a bad one."""
        prefix = str(_raw(app, "CHAOS_AGENT_PREFIX", "/_chaos")).strip().rstrip("/")
        if not prefix.startswith("/"):
            raise ValueError(f"CHAOS_AGENT_PREFIX={prefix!r}: must start with / and name a path below the root")
        token = _raw(app, "CHAOS_AGENT_TOKEN", None)
        return cls(
            enabled=switch(app, "CHAOS_AGENT", False),
            prefix=prefix,
            token=str(token) if token else None,
            breakers=switch(app, "CHAOS_BREAKERS", True),
            service=str(_raw(app, "CHAOS_SERVICE", "") or app.import_name),
            shared_dir=str(_raw(app, "CHAOS_AGENT_SHARED_DIR", "") or "") or None,
        )
