"""A bare Flask endpoint under gunicorn on a free port: the yardstick the load
benches send to, so what they measure is the load generator, not the shop.

Bound to 127.0.0.1 port 0 (the kernel picks a free port; we read it back from
gunicorn's log), never a shop port: other people's stacks may be running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from flask import Flask

app = Flask(__name__)


@app.get("/ping")
def ping() -> tuple[str, int]:
    return "ok", 200


@app.post("/write")
def write() -> tuple[dict, int]:
    return {"id": 1}, 201


@contextmanager
def served(threads: int = 4) -> Iterator[str]:
    """Start gunicorn (one gthread worker) on a free port; yields its base URL,
    stops it by pid afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", str(threads), "-b", "127.0.0.1:0",
         "--keep-alive", "30", "--log-level", "info", "bench.bare:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        url = None
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("gunicorn exited before listening")
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        if url is None:
            raise RuntimeError("gunicorn did not listen within 20 s")
        # Keep draining its log so a full pipe never stalls the worker.
        import threading
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def system_for(url: str) -> SimpleNamespace:
    """The little of a System the load generator reads, for the bare endpoint."""
    from chaos.spec.system import AGENT_FALLBACK, RouteSpec

    host, port = url.removeprefix("http://").split(":")
    return SimpleNamespace(
        entrypoint=SimpleNamespace(base_url=url, host=host, port=int(port)),
        routes={"ping": RouteSpec(path="/ping")},
        spec=SimpleNamespace(variables={}),
        fallback_rule=lambda route: AGENT_FALLBACK,
    )
