"""One assault for every worker of a multi-process server.

The control endpoint is answered by whichever worker the request reaches.
Under `gunicorn -w 4` an assault set there lived in that worker alone: the
other three never inflicted it (a breaker in front of the service saw a
quarter of the 500s asked for, and opened late or never), and a DELETE that
reached another worker left it on after the fault had ended. So, when the
workers share a directory (chaos.agent.workers), the assault lives there:

- `assault.json`: the active assault (or none), when it was set, and an id
  new at every set and clear; rewritten atomically (temporary file, then
  `os.replace`);
- every worker reads it again when it changed: one `stat` per assaulted
  request's check, which sees the replace (a new inode);
- `assault-counts/<pid>.json`: each worker's counters for the current id,
  rewritten at every request that matches (a worker may get no request
  after its last one, so a write put off would never come: the revert's
  "N of M matching requests hit" would come up short); a snapshot adds up
  the counters of the current id.

Written by hand on the standard library, like chaos.agent.workers (the agent
must stay importable with Flask alone).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SharedAssault:
    """The assault file and counters of one service's workers (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._file = directory / "assault.json"
        self._counts = directory / "assault-counts"
        self._counts.mkdir(parents=True, exist_ok=True)
        self._seen: tuple[int, int, int] | None = None  # inode, size, mtime of the file last read

    def write(self, body: dict[str, Any] | None, since: float | None) -> str:
        """Make `body` (an assault's JSON, or None for none) every worker's; returns its new id."""
        ident = uuid.uuid4().hex
        _write_atomic(self._file, json.dumps({"id": ident, "assault": body, "since": since}))
        self._seen = self._stat()
        return ident

    def changed(self) -> dict[str, Any] | None:
        """The file's content if it changed since this worker last read it, else None."""
        stat = self._stat()
        if stat is None or stat == self._seen:
            return None
        try:
            content = json.loads(self._file.read_text())
        except (OSError, ValueError):
            return None  # replaced meanwhile: read it on the next look
        self._seen = stat
        return content if isinstance(content, dict) and "id" in content else None

    def publish_counts(self, ident: str, matched: int, injected: int) -> None:
        """This worker's counters for assault `ident`."""
        try:
            _write_atomic(self._counts / f"{os.getpid()}.json",
                          json.dumps({"id": ident, "matched": matched, "injected": injected}))
        except OSError:
            pass  # counters are evidence, never worth failing a request

    def totals(self, ident: str, own: tuple[int, int]) -> tuple[int, int]:
        """(matched, injected) of assault `ident` over every worker; this
        worker's from memory (`own`), the others' from their last writes."""
        matched, injected = own
        mine = f"{os.getpid()}.json"
        for path in self._counts.glob("*.json"):
            if path.name == mine:
                continue
            try:
                counts = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(counts, dict) and counts.get("id") == ident:
                matched += int(counts.get("matched", 0))
                injected += int(counts.get("injected", 0))
        return matched, injected

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._file)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns
