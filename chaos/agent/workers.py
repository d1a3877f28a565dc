"""Every worker of one multi-process server seen through any worker's answer.

gunicorn forks N workers with no shared memory: each has its own breakers,
counters and transition log, and a reader who keeps one keep-alive
connection sees one of them and never learns the others exist. So the
workers of one service share a small directory (no extra service to run):

- `transitions.jsonl`: one merged transition log. A worker appends under an
  exclusive `flock` and takes the next number from `seq`, so `seq` counts
  1, 2, 3 across every worker and `after`/`last_seq` keep their meaning
  whichever worker answers. Each entry carries the `pid` of its worker.
- `group`: the log's id (uuid hex). Replies give it as `boot_id`: a reader
  that sees it change knows the numbers started again, as before; a worker
  that gunicorn replaces keeps appending to the same log.
- `workers/<pid>.json`: each worker's view (pid, its own boot id, its
  breakers' states and counters), rewritten atomically (temporary file,
  then `os.replace`) by a thread of the worker when something changed, and
  at once after a transition. An entry whose process is gone (pid and
  kernel start time no longer match) is ignored and removed.

Where: `CHAOS_AGENT_SHARED_DIR` if set (app.config, else the environment);
else, in a gunicorn worker, `<tempdir>/chaos-agent-<service>-<master pid>`,
reset when it was left by an earlier master with the same pid. Otherwise
(one process: `flask run`, waitress, the test client) there is no shared
place and the agent answers from its own memory as it always did.

Written by hand on the standard library: the agent must stay importable
with Flask alone, and `fcntl`, `os.replace` and /proc are all it needs.
POSIX only (fcntl); pid start times come from /proc (Linux), elsewhere a
pid alone tells a live worker.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from chaos.agent.processes import alive, children, gunicorn_master, in_gunicorn_worker, start_ticks, sweep
from chaos.agent.recorder import TransitionLog

PUBLISH_INTERVAL = 0.2  # seconds between a worker's checks whether its view changed
# A view that stayed the same is looked at less and less often, down to once
# this many seconds: each look reads every breaker's shared state (three
# round trips to Redis per breaker with SHOP_BREAKER_STORAGE=redis), and an
# idle shop of sixteen workers spent most of its 0.3 cores on such reads. A
# transition still wakes the loop at once; only counters that moved without
# one can show up to this late.
PUBLISH_IDLE = 1.0
READ_INTERVAL = 0.05  # how often a long poll looks for another worker's transition
MAX_ENTRIES = 10_000  # transitions kept, as the in-process log
log = logging.getLogger(__name__)


def _parse(line: bytes) -> dict[str, Any] | None:
    """One log line, or None for a damaged one (a worker killed mid-write)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("seq"), int) else None


def _states(view: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Each breaker's name and state in a view: what a transition changes."""
    return [(b.get("name"), b.get("state")) for b in view.get("breakers", [])]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SharedGroup:
    """The shared directory of one service's workers (see the module docstring)."""

    def __init__(self, directory: Path, master: int | None = None) -> None:
        self.dir = directory
        self.master = master
        (directory / "workers").mkdir(parents=True, exist_ok=True)
        self._log = directory / "transitions.jsonl"
        self._cache: tuple[int, int, list[dict[str, Any]]] = (0, 0, [])  # inode, size read, entries
        with self._locked():
            self.id = self._claim()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _claim(self) -> str:
        """The group's id, made by the first worker. A directory left by an
        earlier master with our master's pid is emptied first."""
        owner = f"{self.master} {start_ticks(self.master)}" if self.master else ""
        try:
            old_owner = (self.dir / "owner").read_text()
            group = (self.dir / "group").read_text().strip()
        except FileNotFoundError:
            old_owner, group = None, ""
        if old_owner == owner and len(group) == 32:
            return group
        (self.dir / "transitions.jsonl").unlink(missing_ok=True)
        for stale in (self.dir / "workers").glob("*.json"):
            stale.unlink(missing_ok=True)
        group = uuid.uuid4().hex
        _write_atomic(self.dir / "group", group)
        _write_atomic(self.dir / "owner", owner)
        return group

    # -- the merged transition log ------------------------------------------

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Give `entry` the group's next seq and append it; returns it."""
        with self._locked():
            # The next seq follows the log's last entry (read incrementally):
            # one source of truth, nothing to get out of step after a crash.
            entries = self._entries()
            seq = entries[-1]["seq"] + 1 if entries else 1
            entry = {**entry, "seq": seq}
            line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
            fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)  # one write: a reader sees the whole line or none of it
            finally:
                os.close(fd)
            if seq % MAX_ENTRIES == 0:  # keep the newest MAX_ENTRIES: a flapping breaker must not grow the file forever
                kept = self._entries()[-MAX_ENTRIES:]
                _write_atomic(self._log, "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in kept))
        return entry

    def _entries(self) -> list[dict[str, Any]]:
        """Every entry of the log, reading only what was added since last time."""
        try:
            st = self._log.stat()
        except FileNotFoundError:
            return []
        inode, size, entries = self._cache
        if st.st_ino != inode or st.st_size < size:
            size, entries = 0, []
        if st.st_size > size:
            with self._log.open("rb") as f:
                f.seek(size)
                chunk = f.read(st.st_size - size)
            complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written is read next time
            entries = entries + [e for e in map(_parse, complete.splitlines()) if e is not None]
            size += len(complete)
        self._cache = (st.st_ino, size, entries)
        return entries

    def last_seq(self) -> int:
        entries = self._entries()
        return entries[-1]["seq"] if entries else 0

    def since(self, after: int, wait: float = 0.0) -> tuple[int, list[dict[str, Any]]]:
        """(last_seq, entries with seq > after) of every worker, waiting up
        to `wait` seconds for one; another worker's entry is found within
        READ_INTERVAL."""
        deadline = time.monotonic() + wait
        while True:
            entries = self._entries()
            last = entries[-1]["seq"] if entries else 0
            if last > after or time.monotonic() >= deadline:
                return last, [dict(e) for e in entries if e["seq"] > after]
            time.sleep(min(READ_INTERVAL, max(0.0, deadline - time.monotonic())))

    # -- the workers' views ------------------------------------------------

    def publish(self, view: dict[str, Any]) -> None:
        """Write this worker's view where every worker reads it."""
        pid = view["pid"]
        _write_atomic(self.dir / "workers" / f"{pid}.json", json.dumps(view, separators=(",", ":")))

    def views(self) -> list[dict[str, Any]]:
        """The views of the workers still alive, by pid; a dead worker's file is removed."""
        found = []
        for path in sorted((self.dir / "workers").glob("*.json")):
            try:
                view = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # vanished, or replaced between listing and reading
            if alive(view["pid"], view.get("started")):
                found.append(view)
            else:
                path.unlink(missing_ok=True)
        return sorted(found, key=lambda v: v["pid"])


class Workers:
    """What one app's agent knows of its process and its fellow workers.

    `log` answers the transitions endpoint: the group's merged log when there
    is a shared place, else this process's own TransitionLog. Resolved per
    process (after a fork the child finds its own group)."""

    def __init__(self, service: str, shared_dir: str | None, describe: Callable[[], list[dict[str, Any]]],
                 boot_id: Callable[[], str]) -> None:
        self.service = service
        self.shared_dir = shared_dir
        self.describe = describe
        self.boot_id = boot_id
        self.local = TransitionLog()
        self._lock = threading.Lock()
        self._pid = 0
        self._group: SharedGroup | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._published = ""
        self._states: list[tuple[Any, Any]] | None = None

    def group(self) -> SharedGroup | None:
        """This process's shared group, or None for a single-process server."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._group = self._open()
                self._thread = None
                self._published = ""
                self._states = None
            return self._group

    def _open(self) -> SharedGroup | None:
        master = None
        if self.shared_dir:
            where = Path(self.shared_dir)
        else:
            master = gunicorn_master()
            if master is None:
                return None
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.service)
            where = Path(tempfile.gettempdir()) / f"chaos-agent-{safe}-{master}"
            sweep(Path(tempfile.gettempdir()), keep=where)
        try:
            return SharedGroup(where, master)
        except OSError as e:  # an unwritable place: answer for this process alone, and say why in the log
            log.warning("chaos agent: cannot share worker views in %s (%s); answering for this process only", where, e)
            return None

    # -- the transitions endpoint's log --------------------------------------

    @property
    def last_seq(self) -> int:
        group = self.group()
        return group.last_seq() if group else self.local.last_seq

    def append(self, breaker: str, old: str | None, new: str) -> dict[str, Any]:
        """Record a transition of this worker: in the group's log if shared, else in memory."""
        group = self.group()
        if group is None:
            return self.local.append(breaker, old, new)
        entry = group.append({"breaker": breaker, "from": old, "to": new, "at": time.time(), "pid": os.getpid()})
        self._wake.set()
        return entry

    def since(self, after: int, wait: float = 0.0) -> tuple[int, list[dict[str, Any]]]:
        group = self.group()
        return group.since(after, wait) if group else self.local.since(after, wait)

    def log_id(self) -> str:
        """What replies give as boot_id: the group's log id, else this process's boot id."""
        group = self.group()
        return group.id if group else self.boot_id()

    # -- the workers' views ----------------------------------------------------

    def view(self) -> dict[str, Any]:
        """This worker's view, as it publishes it."""
        pid = os.getpid()
        return {"pid": pid, "started": start_ticks(pid), "boot_id": self.boot_id(), "at": time.time(),
                "breakers": self.describe()}

    def views(self) -> tuple[list[dict[str, Any]], list[int] | None]:
        """(every live worker's view with this worker's fresh, the pids of
        every live worker of the master whether it published or not (None:
        not known))."""
        own = self.view()
        group = self.group()
        if group is None:
            return [own], [own["pid"]]
        self.ensure_publishing()
        views = [v for v in group.views() if v["pid"] != own["pid"]] + [own]
        pids = children(group.master) if group.master else None
        return sorted(views, key=lambda v: v["pid"]), pids

    def ensure_publishing(self) -> None:
        """Start this worker's publishing thread if it shares a group and the
        thread does not run in this process."""
        group = self.group()
        if group is None or self._stop.is_set():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._publish_loop, args=(group,), name="chaos-agent-publish",
                                            daemon=True)
            self._thread.start()

    def changed(self) -> None:
        """Publish this worker's view now rather than at the next round."""
        self._wake.set()

    def publish_after_fork(self) -> None:
        """Make a child forked from this process (a --preload worker) publish
        from its start. Held weakly: an app gone need not live on for this."""
        ref = weakref.ref(self)

        def after_in_child() -> None:
            me = ref()
            if me is None:
                return
            me._lock = threading.Lock()  # a lock held by another thread at fork time is never released here
            if me.shared_dir or in_gunicorn_worker():
                me.ensure_publishing()

        os.register_at_fork(after_in_child=after_in_child)

    def stop(self) -> None:
        """Stop publishing (tests; an app shutting down)."""
        self._stop.set()
        self._wake.set()

    def _publish_loop(self, group: SharedGroup) -> None:
        interval = PUBLISH_INTERVAL
        while not self._stop.is_set() and os.getpid() == self._pid:
            self._wake.clear()  # before reading: a transition from now on wakes the next round
            try:
                view = self.view()
                text = json.dumps({**view, "at": 0})  # unchanged apart from the time: not worth a write
                if text != self._published:
                    group.publish(view)
                    self._published = text
                states = _states(view)
                if states != self._states:
                    self._states = states
                    interval = PUBLISH_INTERVAL
                else:
                    # Counters move with every call, so under load the view
                    # changed every round, and each round read every breaker's
                    # shared state: the looks back off as when idle, and the
                    # counters go out at each look. A transition, this
                    # worker's or one its calls or poll saw another make,
                    # wakes the loop at once.
                    interval = min(interval * 2, PUBLISH_IDLE)
            except Exception:  # a full disk must not stop the worker; the next round tries again
                log.exception("chaos agent: publishing this worker's view failed")
            if self._wake.wait(interval):
                interval = PUBLISH_INTERVAL  # something happened: look closely again
