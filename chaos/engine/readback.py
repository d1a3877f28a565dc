"""The read-back of acknowledged writes, once the load has stopped: every
write the system acknowledged is read back through the entrypoint and
recorded as a `ReadBack` (the writes_durable check judges them)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from chaos.clients.http import Session
from chaos.history import History, ReadBack, Request
from chaos.spec.system import System


def read_back(system: System, history: History, attempts: int = 3) -> int:
    """Read every acknowledged write back through the entrypoint and record
    whether it came back as written. Returns how many were read."""
    # One read per write: a retried write acknowledged twice has one id. Ids
    # are per route: two write routes (users, orders) may both hand out id 7.
    acked = list({(r.route, r.write_id): r for r in history.of(Request) if r.write_id is not None}.values())
    session = Session()
    base = system.entrypoint.base_url

    def one(req: Request) -> None:
        spec = system.routes[req.route].write
        assert spec is not None
        path = spec.read.replace("{id}", req.write_id or "")
        status, detail = None, ""
        for attempt in range(attempts):
            try:
                resp = session.get(base + path, timeout=5)
                status = resp.status_code
                if status == 200:
                    got = resp.json()
                    wrong = {k: (v, got.get(k)) for k, v in (req.write_body or {}).items() if got.get(k) != v}
                    ok = not wrong
                    detail = f"{req.write_id}: ok" if ok else f"{req.write_id}: differs {json.dumps(wrong)}"
                    history.append(ReadBack(req.route, req.write_id or "", status, ok, detail, time.time()))
                    return
                detail = f"{req.write_id}: GET {path} -> {status}"
                if status == 404:
                    break  # a definite answer: it is not there
            except requests.RequestException as e:
                detail = f"{req.write_id}: GET {path} -> {type(e).__name__}"
            time.sleep(0.2 * (attempt + 1))
        history.append(ReadBack(req.route, req.write_id or "", status, False, detail, time.time()))

    # Closed when done: gunicorn's graceful stop waits out an idle keep-alive
    # connection (its keepalive, 2 s), so one left open delays stopping the stack.
    with session, ThreadPoolExecutor(max_workers=8, thread_name_prefix="readback") as pool:
        list(pool.map(one, acked))
    return len(acked)
