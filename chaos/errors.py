"""The two kinds of error the toolkit reports before or around a run.

Both mean exit code 2: the run did not start, or its set-up failed, and
nothing was left half-done.
"""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """Bad input: names the file, the line and the field at fault."""

    def __init__(self, path: Path | str | None, line: int | None, field: str | None, message: str):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else ""
        if self.line is not None:
            where += f":{self.line}"
        parts = [p for p in (where, self.field) if p]
        return ": ".join(parts + [self.message])


class ConfigErrors(ConfigError):
    """Several problems in one file, reported together so a user fixes them in one go."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.path, first.line, first.field, first.message)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class SetupError(Exception):
    """The environment would not do what the run needs (a port taken, a
    service that never became healthy, Toxiproxy unreachable)."""
