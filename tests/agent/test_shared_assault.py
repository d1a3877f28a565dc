"""One assault for every worker: set through one, inflicted and stopped by all.

Seen under gunicorn -w 4: orders-http-500s set its assault in the one worker
its control request reached, the gateway's breaker saw a quarter of the 500s
and opened late or never, and the DELETE that ended the fault reached another
worker and left the assault on. Each "worker" here is a real forked process.
"""

from __future__ import annotations

import os
import random

from chaos.agent.assaults import Assault, AssaultState


def worker_state(shared) -> AssaultState:
    state = AssaultState(random.Random(7))
    state.shared_dir = lambda: shared
    return state


def in_another_worker(job) -> int:
    """Run `job()` in a forked process; its exit code is what job returns (0-255)."""
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            code = job()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_an_assault_set_in_one_worker_is_inflicted_counted_and_stopped_by_another(tmp_path):
    first = worker_state(tmp_path)
    first.set(Assault.from_json({"kind": "error", "share": 1.0, "status": 503, "path": "/orders"}))
    since = first.snapshot()["since"]

    def draw_ten() -> int:
        other = worker_state(tmp_path)
        hits = [other.draw("/orders/1") for _ in range(10)] + [other.draw("/users/1"), other.draw("/orders/2")]
        assert other.snapshot()["since"] == since
        return sum(1 for h in hits if h is not None and h.status == 503)

    assert in_another_worker(draw_ten) == 11
    seen = first.snapshot()
    assert seen["active"] and (seen["matched"], seen["injected"]) == (11, 11)

    def stop() -> int:
        return 0 if worker_state(tmp_path).clear()["injected"] == 11 else 1

    assert in_another_worker(stop) == 0
    assert first.draw("/orders/3") is None and not first.snapshot()["active"]


def test_without_a_shared_place_an_assault_is_the_processs_own():
    alone = AssaultState(random.Random(7))
    alone.set(Assault.from_json({"kind": "latency", "share": 1.0, "latency_ms": 5}))
    assert alone.draw("/x") is not None and alone.snapshot()["matched"] == 1
    assert in_another_worker(lambda: 0 if AssaultState().draw("/x") is None else 1) == 0
