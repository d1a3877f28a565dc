"""The async path on the real stack: Redis, the Celery worker, the SMTP sink,
all through Toxiproxy, under real load.

Short form (in `make test`): broker-down passes, and proves it held the
e-mails (the relay's breaker opened, e-mails promised during the outage
arrived only after it); and the same scenario on a copy of the shop whose
relay drops what it failed to publish fails the deliveries check, and only
it. Long form (`make test-long`): worker-killed, smtp-slow and redis-slow
pass, and a worker that does not deduplicate doubles e-mails in redis-slow.

Runs on $CHAOS_PORT_OFFSET when set (engineers sharing a machine).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from chaos.engine.mutants import apply_patch, load_catalogue, make_scratch
from chaos.history import FaultEvent, History, Request, SinkRead
from chaos.spec.ports import shifted

from ..polling import settle
from .conftest import ROOT, run_chaos

OFFSET = os.environ.get("CHAOS_PORT_OFFSET") or "0"


def run_dir(reports: Path) -> Path:
    (found,) = [p for p in reports.iterdir() if (p / "verdicts.json").exists()]
    return found


def verdicts(folder: Path) -> dict[str, dict]:
    return {v["check"]: v for v in json.loads((folder / "verdicts.json").read_text())["verdicts"]}


def assert_stack_down(system) -> None:
    moved = shifted(system, int(OFFSET))
    for name, spec in moved.services.items():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", spec.port)) != 0, f"{name} still answers on {spec.port}"


@pytest.fixture(autouse=True)
def clean_stack(system):
    assert_stack_down(system)
    yield
    assert_stack_down(system)


def chaos(*args: str, system_file: Path | None = None) -> object:
    extra = ["--system", str(system_file)] if system_file else []
    return run_chaos(*extra, "--port-offset", OFFSET, *args, timeout=300)


def test_broker_down_answers_at_once_and_delivers_every_promise_once_after(tmp_path):
    result = chaos("run", "broker-down", "--reports", str(tmp_path))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # The fault reached the relays: their breakers on the broker edge opened.
    assert "users->redis  closed -> open" in out and "orders->redis  closed -> open" in out
    folder = run_dir(tmp_path)
    found = verdicts(folder)
    assert all(v["status"] == "pass" for v in found.values()), found
    delivered = found["promised messages delivered once within 30 s"]["figures"]
    assert delivered["promised"] > 100 and delivered["missing"] == delivered["doubled"] == 0

    # The outbox held what was promised while Redis was unreachable: those
    # e-mails were acknowledged during the fault and arrived only after it.
    history = History.read_jsonl(folder / "history.jsonl")
    start, end = sorted(e.at for e in history.of(FaultEvent))[::len(history.of(FaultEvent)) - 1]
    during = {r.write_key for r in history.of(Request)
              if r.route in ("register", "place-order") and r.status in (200, 201, 202) and start + 1 < r.t_end < end - 1}
    arrived = {key: at for read in history.of(SinkRead) for _, key, _, at in read.messages}
    assert len(during) > 40
    assert all(arrived[k] > end - 1 for k in during), "an e-mail promised during the outage arrived during it"
    print("\nbroker-down: " + "; ".join(v["evidence"] for v in found.values()))


def run_mutant(system, mutant: str, scenario: str, reports: Path, within: str | None = None) -> dict[str, dict]:
    """`scenario` on a scratch copy of the shop with `mutant` applied; with
    `within`, its deliveries bound shortened to that (a dropped message is
    missing whatever the bound: waiting 30 s for it proves nothing more)."""
    catalogue = load_catalogue(ROOT / "services" / "mutants" / "catalogue.yaml", system, only=[mutant])
    scratch = make_scratch(system, catalogue)
    try:
        patch = next(m for m in catalogue.spec.mutants if m.name == mutant)
        assert apply_patch(catalogue.patch_path(patch), scratch) is None
        if within is not None:
            path = scratch / "scenarios" / f"{scenario}.yaml"
            text = path.read_text()
            assert text.count("within: 30s") == 1, text
            path.write_text(text.replace("within: 30s", f"within: {within}"))
        result = chaos("run", scenario, "--reports", str(reports), system_file=scratch / "system.yaml")
        assert result.returncode == 1, result.stdout + result.stderr
        return verdicts(run_dir(reports))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_relay_that_drops_failed_publishes_fails_broker_down_on_deliveries_alone(tmp_path, system):
    found = run_mutant(system, "relay-drops-on-error", "broker-down", tmp_path, within="8s")
    deliveries = found.pop("promised messages delivered once within 8 s")
    assert deliveries["status"] == "fail", deliveries
    assert deliveries["figures"]["missing"] > 0 and deliveries["figures"]["doubled"] == 0
    assert "never arrived within 8 s" in deliveries["evidence"]
    # The right reason: requests were still answered and stored; only e-mails were lost.
    assert all(v["status"] == "pass" for v in found.values()), found
    print("\nrelay-drops-on-error: " + deliveries["evidence"])


@pytest.mark.long
@pytest.mark.parametrize("scenario", ["worker-killed", "smtp-slow", "redis-slow"])
def test_async_scenario_passes(scenario, tmp_path):
    result = chaos("run", scenario, "--reports", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    found = verdicts(run_dir(tmp_path))
    assert all(v["status"] == "pass" for v in found.values()), found
    print(f"\n{scenario}: " + "; ".join(v["evidence"] for v in found.values()))


@pytest.mark.long
def test_a_worker_that_does_not_deduplicate_doubles_emails_in_redis_slow(tmp_path, system):
    found = run_mutant(system, "worker-not-idempotent", "redis-slow", tmp_path)
    deliveries = found["promised messages delivered once within 30 s"]
    assert deliveries["status"] == "fail" and deliveries["figures"]["doubled"] > 0, deliveries
    print("\nworker-not-idempotent: " + deliveries["evidence"])


def test_a_task_the_broker_lost_is_published_again_and_sent_once(system, tmp_path):
    """What a worker killed between the Redis transport's pop and its
    bookkeeping does to a task (celery/celery#7950), done by hand: the
    worker is stopped, a registration promises a welcome, the relay
    publishes it, and the task is taken off Redis' queue before any worker
    sees it. Its relay, seeing no delivery receipt (here after 3 s, not 60),
    publishes it again, and the e-mail arrives, once."""
    import time
    import uuid

    import redis
    import requests

    from chaos.runtime import make_runtime
    from chaos.spec.overrides import ServiceOverride, SystemOverrides, applied

    quick = {"SHOP_OUTBOX_REPUBLISH_AFTER": "3"}
    moved = applied(shifted(system, int(OFFSET)), SystemOverrides(services={"users": ServiceOverride(env=quick)}))
    rt = make_runtime("local", moved, tmp_path / "state", {"CHAOS_BREAKERS": "on"})
    rt.up()
    try:
        rt.stop("notifications")
        broker = redis.Redis(port=moved.services["redis"].port)
        assert broker.llen("celery") == 0
        email = f"{uuid.uuid4().hex}@example.test"
        answer = requests.post(moved.entrypoint.base_url + "/api/users", json={"name": "lost", "email": email}, timeout=5)
        assert answer.status_code == 201, answer.text
        queued, _ = settle(lambda: broker.llen("celery"), lambda n: n == 1, within=10)
        assert queued == 1, "the relay did not publish the welcome"
        assert broker.rpop("celery") is not None  # lost, as to a worker killed right after its pop
        lost_at = time.monotonic()
        rt.start("notifications")
        mailer = moved.services["mailer"].base_url + "/messages"

        def arrived() -> list[dict]:
            return requests.get(mailer, params={"key": email}, timeout=2).json()["messages"]

        found, _ = settle(arrived, lambda found: len(found) >= 1, within=30)
        assert len(found) == 1, "the lost welcome never arrived"
        assert time.monotonic() - lost_at >= 2.0  # it came back by the relay's republish, not by itself
        time.sleep(1.0)
        assert len(arrived()) == 1  # once
        assert broker.exists(f"shop:receipt:{found[0]['outbox_id']}")
    finally:
        rt.down()
