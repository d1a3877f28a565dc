"""Four workers, one breaker, on the real shop: gunicorn -w 4 behind the real
Toxiproxy, the breakers' state in a real redis-server.

- per-worker-breakers with storage=redis (the shop's default) passes: the
  four workers of the gateway hold one breaker;
- the same with storage=memory (pybreaker's default) fails its breaker
  checks for the right reason: workers that stayed closed;
- breaker-store-down: Redis killed under load (and orders while it is away)
  and the shop keeps answering, each worker's breaker going on alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import run_chaos

# The run's ports: $CHAOS_PORT_OFFSET when the caller set one, else a free offset.
OFFSET = os.environ.get("CHAOS_PORT_OFFSET") or "auto"
OPENS = "breaker gateway->orders opens within 3 s and 14 calls"
AGREE = "every worker agrees on breaker gateway->orders"
RECOVERS = "breaker gateway->orders recovers"


def _run(scenario: str, reports: Path, *params: str):  # type: ignore[no-untyped-def]
    args = [a for p in params for a in ("--param", p)]
    done = run_chaos("--port-offset", OFFSET, "run", scenario, *args, "--reports", str(reports), timeout=150)
    (folder,) = [p for p in reports.iterdir() if p.is_dir()]
    events = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    verdicts = {v["check"]: v for v in json.loads((folder / "verdicts.json").read_text())["verdicts"]}
    return done, events, verdicts, folder


def test_with_redis_storage_the_four_workers_hold_one_breaker(tmp_path):
    done, events, verdicts, _ = _run("per-worker-breakers", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    views = [e for e in events if e["kind"] == "worker-views" and e["service"] == "gateway"]
    live = set(views[-1]["live"])
    assert len(live) == 4, views[-1]
    # every worker moved: the shared open reached each one's listener, calls or not
    opened = {e["worker"] for e in events if e["kind"] == "transition" and e["breaker"] == "gateway->orders" and e["new"] == "open"}
    assert opened == live, (opened, live)
    opens = verdicts[OPENS]
    assert opens["figures"]["workers_opened"] == 4 and opens["figures"]["calls"] <= 14, opens
    assert verdicts[AGREE]["status"] == "pass" and verdicts[AGREE]["figures"]["longest_s"] <= 1.0, verdicts[AGREE]
    assert verdicts[RECOVERS]["status"] == "pass", verdicts[RECOVERS]


# make test-long: kept out of make test's 20 minutes; make test keeps the same
# property on four gunicorn workers with memory breakers (test_workers.py).
@pytest.mark.long
def test_with_memory_storage_each_worker_holds_its_own_and_the_checks_fail(tmp_path):
    done, events, verdicts, _ = _run("per-worker-breakers", tmp_path, "storage=memory")
    assert done.returncode == 1, done.stdout + done.stderr
    opens = verdicts[OPENS]
    assert opens["status"] == "fail" and opens["figures"]["workers"] == 4, opens
    # The right reason: not every worker's breaker opened, or all did but only
    # after each had paid its own failures (at least 4 x fail_max calls).
    split = "per-process breakers: gateway->orders opened in" in opens["evidence"]
    assert split or opens["figures"]["calls"] >= 20, opens
    assert verdicts[AGREE]["status"] == "fail", verdicts[AGREE]
    assert "per-process breakers: the 4 workers of gateway disagreed" in verdicts[AGREE]["evidence"]


@pytest.mark.long  # make test-long: kept out of make test's 20 minutes (see Makefile)
def test_with_the_breaker_store_down_the_shop_keeps_answering(tmp_path):
    done, events, verdicts, folder = _run("breaker-store-down", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(v["status"] == "pass" for v in verdicts.values()), verdicts
    faults = [e for e in events if e["kind"] == "fault" and e["phase"] == "start"]
    assert [f["targets"] for f in faults] == [["redis"], ["orders"]], faults
    # while Redis was away the gateway's breakers opened on their own failures, worker by worker
    redis_down = next(f["at"] for f in faults if f["targets"] == ["redis"])
    redis_back = next(e["at"] for e in events if e["kind"] == "fault" and e["phase"] == "end" and e["targets"] == ["redis"])
    opened = [e for e in events if e["kind"] == "transition" and e["breaker"] == "gateway->orders" and e["new"] == "open"
              and redis_down <= e["at"] <= redis_back]
    assert opened, "no breaker opened while the store was away"
    log = (folder / "logs" / "gateway.log").read_text()
    assert "breaker store shop:gateway:orders unreachable" in log and "this worker's breaker goes on alone" in log
