"""Per-process breakers: the checks judge every worker's copy of a breaker.

Histories shaped like a gunicorn -w 4 run: the agent's WorkerViews and
transitions tagged with their worker's pid."""

from __future__ import annotations

import pytest

from chaos.checks.breaker_opens import BreakerOpens
from chaos.checks.breaker_recovers import BreakerRecovers
from chaos.checks.breaker_reopens import BreakerReopens
from chaos.checks.breakers_agree import BreakersAgree
from chaos.history import History, Transition, WorkerViews
from chaos.history.queries import Window
from chaos.history.workers import breaker_workers, disagreements

from .histories import BREAKER, T0, run

PIDS = (101, 102, 103, 104)
FAULT = (8.0, 18.0)


def workers_run(opens: dict[int, float], closes: dict[int, float] | None = None, live: tuple[int, ...] | None = PIDS,
                seen: tuple[int, ...] = PIDS) -> History:
    """The shop's run with gateway under 4 workers: worker pid opens at
    +opens[pid] s and closes via half-open at +closes[pid] s."""
    h = run(transitions=[])
    h.append(WorkerViews("gateway", tuple((BREAKER, pid, "closed") for pid in seen), live, T0 + 0.5))
    for pid, at in opens.items():
        h.append(Transition(BREAKER, "closed", "open", T0 + at, T0 + at, pid))
    for pid, at in (closes or {}).items():
        h.append(Transition(BREAKER, "open", "half-open", T0 + at, T0 + at, pid))
        h.append(Transition(BREAKER, "half-open", "closed", T0 + at + 0.01, T0 + at + 0.01, pid))
    return h


def opens(**kw):
    return BreakerOpens(kind="breaker_opens", breaker=BREAKER, **kw)


def agree(**kw):
    return BreakersAgree(kind="breakers_agree", breaker=BREAKER, **kw)


def test_one_worker_of_four_opening_fails_breaker_opens_naming_the_workers(system):
    verdict = opens(within=3.0).evaluate(workers_run({101: 8.3}), system)
    assert verdict.status == "fail"
    assert "per-process breakers" in verdict.evidence
    assert "opened in 1 of 4 workers (pid 101 at +0.30 s; 102, 103, 104 stayed closed)" in verdict.evidence


def test_breaker_opens_takes_the_last_worker_to_open(system):
    h = workers_run({101: 8.3, 102: 8.5, 103: 9.0, 104: 12.0})
    late = opens(within=3.0).evaluate(h, system)
    assert late.status == "fail" and late.figures["delay_s"] == pytest.approx(4.0)
    assert "open in all 4 workers 4.00 s" in late.evidence and "the first at +0.30 s" in late.evidence
    on_time = opens(within=3.0).evaluate(workers_run({101: 8.3, 102: 8.5, 103: 9.0, 104: 10.5}), system)
    assert on_time.status == "pass" and on_time.figures["workers_opened"] == 4


def test_a_live_worker_never_seen_makes_breaker_opens_unknown_not_pass(system):
    h = workers_run({101: 8.3, 102: 8.5, 103: 9.0}, seen=(101, 102, 103))
    verdict = opens(within=3.0).evaluate(h, system)
    assert verdict.status == "unknown"
    assert "1 of 4 workers never showed their breaker (pids 104)" in verdict.evidence


def test_an_older_agent_without_workers_is_judged_as_one_breaker(system):
    verdict = opens(within=3.0).evaluate(run(), system)
    assert verdict.status == "pass" and "workers" not in verdict.figures


def test_breakers_agree_fails_on_a_long_split_and_says_who_and_when(system):
    verdict = agree(within=1.0).evaluate(workers_run({101: 8.3, 102: 8.5, 103: 9.0, 104: 12.0}), system)
    assert verdict.status == "fail"
    assert verdict.figures["longest_s"] == pytest.approx(3.7)
    assert "the 4 workers of gateway disagreed on gateway->orders for 3.70 s from +0.30 s" in verdict.evidence
    assert "open in 1 (pids 101) while 102, 103, 104 stayed closed" in verdict.evidence


def test_breakers_agree_passes_when_the_workers_move_together(system):
    h = workers_run({pid: 8.3 + i * 0.05 for i, pid in enumerate(PIDS)}, closes={pid: 22.0 for pid in PIDS})
    verdict = agree(within=1.0).evaluate(h, system)
    assert verdict.status == "pass" and verdict.figures["longest_s"] == pytest.approx(0.15)


def test_breakers_agree_is_unknown_without_worker_evidence(system):
    assert agree().evaluate(run(), system).status == "unknown"


def test_disagreements_track_each_worker_from_its_last_view():
    h = workers_run({101: 8.3, 102: 9.3})
    w = breaker_workers(h, "gateway", BREAKER, Window(T0 + 8.0, T0 + 18.0))
    assert w is not None and w.pids == PIDS and w.unseen == ()
    split = disagreements(h, BREAKER, w, Window(T0 + 8.0, T0 + 18.0))
    assert [(round(d.start - T0, 2), round(d.end - T0, 2), d.tripped) for d in split] == [(8.3, 18.0, (101,))]
    assert split[0].closed == (102, 103, 104)


def test_a_worker_that_opened_before_the_window_starts_it_open():
    h = workers_run({101: 7.0})
    w = breaker_workers(h, "gateway", BREAKER, Window(T0 + 8.0, T0 + 18.0))
    split = disagreements(h, BREAKER, w, Window(T0 + 8.0, T0 + 18.0))
    assert [(round(d.start - T0, 2), d.tripped) for d in split] == [(8.0, (101,))]


def test_breaker_recovers_needs_every_worker_that_opened_to_close(system):
    h = workers_run({101: 8.3, 102: 8.4}, closes={101: 22.0})
    verdict = BreakerRecovers(kind="breaker_recovers", breaker=BREAKER).evaluate(h, system)
    assert verdict.status == "fail" and "pid 102 still open" in verdict.evidence
    h = workers_run({101: 8.3, 102: 8.4}, closes={101: 22.0, 102: 22.5})
    verdict = BreakerRecovers(kind="breaker_recovers", breaker=BREAKER).evaluate(h, system)
    assert verdict.status == "pass" and "all 2 workers that opened" in verdict.evidence


def test_a_worker_closing_with_a_shared_breaker_recovers_without_its_own_trial(system):
    """Redis storage: one worker's trial closes the breaker for all; the
    others go from open to closed when they next read it."""
    h = workers_run({pid: 8.3 for pid in PIDS}, closes={101: 22.0})
    for i, pid in enumerate((102, 103, 104)):
        h.append(Transition(BREAKER, "open", "closed", T0 + 22.1 + i * 0.1, T0 + 22.1 + i * 0.1, pid))
    verdict = BreakerRecovers(kind="breaker_recovers", breaker=BREAKER).evaluate(h, system)
    assert verdict.status == "pass", verdict.evidence
    assert "3 of them closed with the shared breaker" in verdict.evidence and "pids 102, 103, 104" in verdict.evidence


def test_open_to_closed_with_no_trial_nearby_is_still_not_a_recovery(system):
    """A breaker of its own cannot close without its own half-open: a close
    long after another worker's trial (or with none) proves no recovery."""
    h = workers_run({101: 8.3, 102: 8.3}, closes={101: 22.0})
    h.append(Transition(BREAKER, "open", "closed", T0 + 24.0, T0 + 24.0, 102))
    verdict = BreakerRecovers(kind="breaker_recovers", breaker=BREAKER).evaluate(h, system)
    assert verdict.status == "fail" and "pid 102 closed" in verdict.evidence and "not via half-open" in verdict.evidence


def test_breaker_reopens_fails_when_one_worker_closes_on_a_trial_during_the_fault(system):
    h = workers_run({101: 8.3, 102: 8.4})
    for pid, new in ((101, "open"), (102, "closed")):
        h.append(Transition(BREAKER, "open", "half-open", T0 + 14.0, T0 + 14.0, pid))
        h.append(Transition(BREAKER, "half-open", new, T0 + 14.01, T0 + 14.01, pid))
    verdict = BreakerReopens(kind="breaker_reopens", breaker=BREAKER).evaluate(h, system)
    assert verdict.status == "fail" and "in workers 102 a trial closed it" in verdict.evidence


def test_worker_views_survive_the_jsonl_round_trip(tmp_path):
    h = workers_run({101: 8.3}, live=None)
    h.write_jsonl(tmp_path / "history.jsonl")
    back = History.read_jsonl(tmp_path / "history.jsonl")
    assert back.of(WorkerViews) == h.of(WorkerViews)
    assert back.of(Transition)[0].worker == 101


class _Agent:
    service, url = "front", "http://127.0.0.1:1/_chaos"

    def __init__(self, body):
        self.body = body

    def breakers(self):
        return self.body

    def close(self):
        pass


def test_restore_sees_a_breaker_left_open_in_a_worker_that_did_not_answer():
    from chaos.engine.restore import _not_closed

    closed, opened = {"name": "stock", "state": "closed"}, {"name": "stock", "state": "open"}
    body = {"breakers": [closed], "workers": [{"pid": 1, "breakers": [closed]}, {"pid": 2, "breakers": [opened]}]}
    assert _not_closed(_Agent(body)) == ["stock"]
    assert _not_closed(_Agent({"breakers": [closed]})) == []  # an agent before workers: its own answer


def test_the_report_draws_one_band_per_worker_of_a_breaker_held_by_several():
    from chaos.report.timeline import breaker_bands

    h = workers_run({101: 8.3}, closes={101: 22.0})
    bands = breaker_bands(h, T0, 30.0)
    names = sorted({b.breaker for b in bands})
    assert names == [f"{BREAKER} (worker {pid})" for pid in PIDS]
    of_101 = [(b.state, round(b.start, 2)) for b in bands if b.breaker.endswith("(worker 101)")]
    assert of_101 == [("closed", 0.5), ("open", 8.3), ("half-open", 22.0), ("closed", 22.01)]
    assert [(b.breaker, b.state) for b in breaker_bands(run(), T0, 30.0)][0] == (BREAKER, "closed")  # one process: as before


def test_the_watcher_records_every_workers_view_under_the_edge_names():
    from pathlib import Path

    from chaos.engine.observe import BreakerWatcher
    from chaos.spec import load_system

    from .test_breaker_stats import breakers_reply

    def reply(state_of: dict[int, str] | None) -> dict:
        body = breakers_reply("gateway", "orders")
        if state_of is not None:
            body["workers"] = [{"pid": pid, "boot_id": "1" * 32, "at": 1.0,
                                "breakers": [{**body["breakers"][0], "state": state}]} for pid, state in state_of.items()]
            body["worker_pids"] = [*state_of, 105]
        return body

    class Agents:
        def __init__(self, body):
            self.body = body

        def services(self):
            return ["gateway"]

        def client(self, service, session=None):
            body = self.body

            class Client:
                def breakers(self, timeout=None):
                    return body

            return Client()

    system = load_system(Path(__file__).resolve().parents[2] / "system.yaml")
    history = History()
    BreakerWatcher(system, history, agents=Agents(reply({101: "open", 102: "closed"}))).final_stats()
    (views,) = history.of(WorkerViews)
    assert views.service == "gateway" and views.live == (101, 102, 105)
    assert views.seen("gateway->orders") == {101: "open", 102: "closed"}
    old = History()
    BreakerWatcher(system, old, agents=Agents(reply(None))).final_stats()
    assert old.of(WorkerViews) == []  # an agent before per-worker views: nothing claimed
