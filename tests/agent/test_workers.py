"""Every worker seen through any worker: the shared directory of
chaos.agent.workers, across real forked processes."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from chaos.agent.workers import SharedGroup

from .helpers import make_demo

FORK = multiprocessing.get_context("fork")


def _append_many(directory: str, n: int) -> None:
    group = SharedGroup(Path(directory))
    for i in range(n):
        group.append({"breaker": "users", "from": "closed", "to": "open", "at": time.time(), "pid": os.getpid()})


def test_workers_appending_at_once_get_one_dense_sequence_each_entry_with_its_pid(tmp_path):
    children = [FORK.Process(target=_append_many, args=(str(tmp_path), 40)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    last, entries = SharedGroup(tmp_path).since(0)
    assert last == 120
    assert [e["seq"] for e in entries] == list(range(1, 121))
    assert sorted({e["pid"] for e in entries}) == sorted(c.pid for c in children)
    assert SharedGroup(tmp_path).since(120) == (120, [])


def _append_later(directory: str) -> None:
    time.sleep(0.3)
    _append_many(directory, 1)


def test_a_long_poll_in_one_worker_answers_soon_after_another_worker_appends(tmp_path):
    group = SharedGroup(tmp_path)
    child = FORK.Process(target=_append_later, args=(str(tmp_path),))
    began = time.monotonic()  # before the child starts: its append comes at least 0.3 s after this
    child.start()
    last, entries = group.since(0, wait=3.0)
    waited = time.monotonic() - began
    child.join(5)
    assert (last, [e["pid"] for e in entries]) == (1, [child.pid])
    assert 0.29 < waited < 1.5


def _publish_and_exit(directory: str) -> None:
    SharedGroup(Path(directory)).publish({"pid": os.getpid(), "started": None, "boot_id": "0" * 32, "at": 1.0,
                                          "breakers": []})


def test_a_dead_workers_view_is_ignored_and_removed(tmp_path):
    group = SharedGroup(tmp_path)
    group.publish({"pid": os.getpid(), "started": None, "boot_id": "a" * 32, "at": 1.0, "breakers": []})
    child = FORK.Process(target=_publish_and_exit, args=(str(tmp_path),))
    child.start()
    child.join(5)
    assert (tmp_path / "workers" / f"{child.pid}.json").exists()
    assert [v["pid"] for v in group.views()] == [os.getpid()]
    assert not (tmp_path / "workers" / f"{child.pid}.json").exists()


def test_a_directory_left_by_an_earlier_master_with_the_same_pid_starts_afresh(tmp_path):
    old = SharedGroup(tmp_path, master=os.getpid())
    old.append({"breaker": "users", "from": "closed", "to": "open", "at": 1.0, "pid": os.getpid()})
    assert SharedGroup(tmp_path, master=os.getpid()).id == old.id  # same master: same group
    (tmp_path / "owner").write_text(f"{os.getpid()} 1")  # as if a master long gone had had our pid
    new = SharedGroup(tmp_path, master=os.getpid())
    assert new.id != old.id and new.since(0) == (0, [])


def test_a_single_process_app_answers_for_itself_with_one_worker(demos):
    demo = demos("pybreaker")
    demo.trip()
    body = demo.client.get("/_chaos/breakers").json
    assert [w["pid"] for w in body["workers"]] == [os.getpid()] == body["worker_pids"]
    assert [(b["name"], b["state"]) for b in body["workers"][0]["breakers"]] == [("users", "open")]
    transitions = demo.client.get("/_chaos/breakers/transitions").json
    assert transitions["boot_id"] == body["boot_id"]  # one process: the log is the process's
    assert [(t["to"], t["pid"]) for t in transitions["transitions"]] == [("open", os.getpid())]


def _worker(directory: str, ready, done) -> None:  # type: ignore[no-untyped-def]
    demo = make_demo("pybreaker", CHAOS_AGENT_SHARED_DIR=directory)
    demo.trip()
    demo.client.get("/_chaos/breakers")  # publishes at once, as a request would
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not list(Path(directory, "workers").glob(f"{os.getpid()}.json")):
        time.sleep(0.02)
    ready.set()
    done.wait(10)
    demo.agent.close()


def test_any_worker_answers_for_every_worker_through_the_shared_directory(tmp_path, demos):
    ready, done = FORK.Event(), FORK.Event()
    child = FORK.Process(target=_worker, args=(str(tmp_path), ready, done))
    child.start()
    try:
        assert ready.wait(10)
        here = demos("pybreaker", CHAOS_AGENT_SHARED_DIR=str(tmp_path))
        body = here.client.get("/_chaos/breakers").json
        states = {w["pid"]: w["breakers"][0]["state"] for w in body["workers"]}
        assert states == {child.pid: "open", os.getpid(): "closed"}
        assert body["breakers"][0]["state"] == "closed"  # `breakers` stays this worker's own
        transitions = here.client.get("/_chaos/breakers/transitions?after=0").json
        assert [(t["seq"], t["to"], t["pid"]) for t in transitions["transitions"]] == [(1, "open", child.pid)]
        here.trip()
        after = here.client.get("/_chaos/breakers/transitions?after=1").json
        assert [(t["seq"], t["pid"]) for t in after["transitions"]] == [(2, os.getpid())]
        assert after["boot_id"] == transitions["boot_id"] != body["boot_id"]  # the group's log, not this process
    finally:
        done.set()
        child.join(10)
    assert child.exitcode == 0


@pytest.mark.parametrize("value", ["", None])
def test_a_single_process_app_shares_nothing(demos, value):
    demo = demos("pybreaker", **({} if value is None else {"CHAOS_AGENT_SHARED_DIR": value}))
    demo.trip()
    demo.client.get("/_chaos/breakers")
    assert demo.agent._runtime.log.group() is None


def test_a_damaged_line_is_skipped_and_the_sequence_goes_on(tmp_path):
    group = SharedGroup(tmp_path)
    group.append({"breaker": "users", "from": "closed", "to": "open", "at": 1.0, "pid": os.getpid()})
    with (tmp_path / "transitions.jsonl").open("a") as f:
        f.write('{"seq": 2, "breaker": "us\n')  # a worker killed in the middle of its line
    group.append({"breaker": "users", "from": "open", "to": "half-open", "at": 2.0, "pid": os.getpid()})
    last, entries = SharedGroup(tmp_path).since(0)
    assert (last, [(e["seq"], e["to"]) for e in entries]) == (2, [(1, "open"), (2, "half-open")])


def test_an_unchanged_view_is_read_less_and_less_often_and_a_transition_brings_it_back(tmp_path, monkeypatch):
    # Each look at the view reads every breaker's shared state from Redis:
    # an idle worker looked five times a second, forever.
    from chaos.agent import workers as workers_module
    from chaos.agent.workers import Workers

    monkeypatch.setattr(workers_module, "PUBLISH_INTERVAL", 0.02)
    monkeypatch.setattr(workers_module, "PUBLISH_IDLE", 0.16)
    looks: list[float] = []
    state = {"value": "closed"}

    def describe() -> list[dict]:
        looks.append(time.monotonic())
        return [{"name": "orders", "state": state["value"]}]

    workers = Workers("svc", str(tmp_path), describe, lambda: "boot")
    workers.ensure_publishing()
    try:
        time.sleep(1.2)
        idle = len(looks)
        gaps = [b - a for a, b in zip(looks, looks[1:])]
        assert idle <= 15, idle  # at 0.02 s it would be about 60
        assert max(gaps) >= 0.15 and max(gaps[-3:]) < 0.3, gaps  # backed off to the idle pace, no further
        state["value"] = "open"
        workers.append("orders", "closed", "open")  # a transition wakes it
        deadline = time.monotonic() + 2
        while not any(v["breakers"][0]["state"] == "open" for v in SharedGroup(tmp_path).views()) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert any(v["breakers"][0]["state"] == "open" for v in SharedGroup(tmp_path).views())
        before = len(looks)
        time.sleep(0.1)
        assert len(looks) - before >= 2, looks[before:]  # looking closely again right after the change
    finally:
        workers.stop()


def test_a_view_whose_counters_move_on_every_call_backs_off_too_and_still_goes_out(tmp_path, monkeypatch):
    # Under load the counters change between any two looks, so the view
    # "changed" every round and each round read every breaker's shared state
    # (at 30 req/s, a third of the shop's Redis commands). Only a state
    # change is worth looking closely for; the counters go out at each look.
    from chaos.agent import workers as workers_module
    from chaos.agent.workers import Workers

    monkeypatch.setattr(workers_module, "PUBLISH_INTERVAL", 0.02)
    monkeypatch.setattr(workers_module, "PUBLISH_IDLE", 0.16)
    looks: list[float] = []

    def describe() -> list[dict]:
        looks.append(time.monotonic())
        return [{"name": "orders", "state": "closed", "calls": {"success": len(looks)}}]

    workers = Workers("svc", str(tmp_path), describe, lambda: "boot")
    workers.ensure_publishing()
    try:
        time.sleep(1.2)
        gaps = [b - a for a, b in zip(looks, looks[1:])]
        assert len(looks) <= 15, len(looks)  # at 0.02 s it would be about 60
        assert max(gaps[-3:]) >= 0.15, gaps
        published = SharedGroup(tmp_path).views()[0]["breakers"][0]["calls"]["success"]
        assert published >= len(looks) - 1, (published, len(looks))  # the last look's counters went out
    finally:
        workers.stop()
