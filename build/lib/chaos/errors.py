"""The two kinds of error the toolkit reports before or around a run.

Both mean exit code 2: the run did not start, or its set-up failed, and
nothing was left half-done.
"""

from __future__ import annotations

import re
from pathlib import Path

# Messages quote what the file said (an unknown kind, a bad value). A quoted
# value may hold line breaks or run to thousands of characters; shown as is it
# would split or bury the one line that says what is wrong.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LONG_WORD = re.compile(r"\S{81,}")
MAX_MESSAGE = 400


def one_line(text: str) -> str:
    """`text` on one line of bounded length: control characters escaped, any
    run of more than 80 non-blank characters and the middle of a message
    longer than MAX_MESSAGE elided."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    text = _LONG_WORD.sub(lambda m: f"{m.group()[:40]}...({len(m.group())} characters)...{m.group()[-20:]}", text)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE - 120]} ... {text[-100:]}"
    return text


class ConfigError(Exception):
    """Bad input: names the file, the line and the field at fault."""

    def __init__(self, path: Path | str | None, line: int | None, field: str | None, message: str):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = one_line(field) if field is not None else None
        self.message = one_line(message)
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
