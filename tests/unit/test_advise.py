"""`chaos advise` on synthetic run folders: advice per edge that cites its
figures, warnings where the evidence argues against a setting, and plain
words for what a run cannot tell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import ConfigError
from chaos.history import History, Request
from chaos.report import run_info
from chaos.report.advise import advise, advise_run, lines
from chaos.spec import load_system

from .runs import ROOT, T0, order_slow_folder, order_slow_history


def by_topic(found, edge: str) -> dict[str, str]:
    (e,) = [e for e in found if e.edge == edge]
    return {a.topic: f"{a.level}: {a.text}" for a in e.advice}


def test_order_slow_with_breaker_stats_gives_advice_per_edge_citing_its_figures(tmp_path):
    info, found = advise_run(order_slow_folder(tmp_path / "run"))
    assert [e.edge for e in found] == ["gateway->users", "gateway->orders", "orders->inventory", "users->redis",
                                       "orders->redis", "notifications->redis", "notifications->mailer"]
    orders = by_topic(found, "gateway->orders")
    assert orders["read_timeout"].startswith("ok: read timeout 1 s: healthy calls p50 4.0 ms, p99 12 ms, max 40 ms (gateway's breaker, "
                                             "its last 100 calls, all after the last fault and breaker recovery): 600 ms (no less: "
                                             "orders waits up to 500 ms on inventory before it falls back) would still be 15x the worst "
                                             "healthy call and would give up 1.7x sooner under order-slow's 3 s latency")
    assert "fail_max 5: ~18.7 req/s through gateway->orders (routes profile, user-orders, place-order) outside faults: " \
           "a full outage trips it after ~267 ms" in orders["fail_max"]
    assert "opened 1.05 s after latency 3000 ms on gateway->orders (downstream) began" in orders["fail_max"]
    assert "1 failure in 1 run outside faults, the longest 1 (354 requests): fail_max must stay above 1" in orders["fail_max"]
    assert orders["reset_timeout"] == ("ok: reset timeout 5 s: latency 3000 ms on gateway->orders (downstream) lasted 10 s; 1 trial "
                                       "failed during it, 0 after it ended; closed 1.1 s after it ended: recovery followed the fault closely")
    users = by_topic(found, "gateway->users")
    assert users["read_timeout"].startswith("warn: read timeout 1 s: healthy calls p50 3.0 ms, p99 7.0 ms, max 9.0 ms")
    assert "100 ms would still be 11x the worst healthy call; 1 s is over 10x the worst healthy call" in users["read_timeout"]
    text = lines(found)
    assert text[0] == ("gateway->users  (read timeout 1 s, fail_max 5, reset timeout 5 s; calls: 450 successful, 0 failed, "
                       "0 ignored, 0 not permitted)")
    assert any(line.startswith("  WARN     read timeout 1 s") for line in text)


def test_what_the_run_cannot_tell_is_said_plainly(tmp_path):
    _, found = advise_run(order_slow_folder(tmp_path / "run"))
    inventory = by_topic(found, "orders->inventory")
    assert inventory["read_timeout"] == ("unknown: read timeout 500 ms: no latency of orders->inventory's own calls outside faults: "
                                         "its agent reported no call latency, and no route needs only inventory: no read-timeout advice")
    assert by_topic(found, "gateway->users")["reset_timeout"] == (
        "unknown: reset timeout 5 s: no fault reached users in this run: no recovery observed, no reset-timeout advice")


def test_a_run_without_breaker_stats_falls_back_on_routes_that_need_only_the_edge(tmp_path):
    _, found = advise_run(order_slow_folder(tmp_path / "run", order_slow_history(stats=False)))
    orders = by_topic(found, "gateway->orders")
    assert "requests on user-orders outside faults, end to end: an upper bound of the edge's calls" in orders["read_timeout"]
    assert "fail_max 5" in orders["fail_max"]  # from the watcher's first sight of the breaker


def test_no_calls_outside_faults_means_no_read_timeout_advice():
    # Only the fault's requests: nothing through gateway->orders was ever healthy.
    during = [e for e in order_slow_history(stats=False) if not isinstance(e, Request) or T0 + 8.0 <= e.t_start < T0 + 18.0]
    found = advise(History(during), load_system(ROOT / "system.yaml"), {})
    assert by_topic(found, "gateway->orders")["read_timeout"] == (
        "unknown: read timeout 1 s: no calls observed through gateway->orders outside faults (its agent reported no call latency; "
        "none on user-orders): no read-timeout advice")


def test_a_read_timeout_under_twice_the_healthy_p99_warns_of_false_trips(tmp_path):
    system = load_system(ROOT / "system.yaml")
    system.spec.edges[0] = system.spec.edges[0].model_copy(update={"read_timeout": 0.01})
    found = advise(order_slow_history(), system, {})
    assert by_topic(found, "gateway->users")["read_timeout"].startswith(
        "warn: read timeout 10 ms: healthy calls p50 3.0 ms, p99 7.0 ms, max 9.0 ms")
    assert "under 2x the healthy p99, so healthy calls will time out and count as failures (false trips); raise it to 100 ms" \
        in by_topic(found, "gateway->users")["read_timeout"]


def test_failure_runs_outside_faults_as_long_as_fail_max_warn():
    blips = tuple(25.0 + i / 30 for i in range(16))  # half a second of failures: 10 calls to orders in a row
    found = advise(order_slow_history(blips=blips), load_system(ROOT / "system.yaml"), {})
    advice = by_topic(found, "gateway->orders")["fail_max"]
    assert advice.startswith("warn: fail_max 5:")
    assert "but 10 consecutive failures were seen outside faults (10 over 354 requests): blips that trip it; raise it above 10" in advice


def test_many_failed_trials_after_the_fault_say_the_reset_timeout_is_short():
    # Trials every 5 s: one into the fault, two more into an orders that takes 11 s to come back.
    moves = [("closed", "open", 9.0), ("open", "half-open", 14.0), ("half-open", "open", 14.01),
             ("open", "half-open", 19.0), ("half-open", "open", 19.01), ("open", "half-open", 24.0), ("half-open", "open", 24.01),
             ("open", "half-open", 29.0), ("half-open", "closed", 29.0)]
    found = advise(order_slow_history(moves=moves), load_system(ROOT / "system.yaml"), {})
    advice = by_topic(found, "gateway->orders")["reset_timeout"]
    assert advice.startswith("warn: reset timeout 5 s: latency 3000 ms on gateway->orders (downstream) lasted 10 s; 1 trial "
                             "failed during it, 2 after it ended; closed 11 s after it ended: 5 s is much shorter than orders' own "
                             "recovery (~11 s): each failed trial costs a caller a failed call; ~11 s would fail fewer")


def test_the_system_file_comes_from_run_json_else_from_the_option(tmp_path):
    folder = order_slow_folder(tmp_path / "run", system_path=None)
    with pytest.raises(ConfigError, match="does not name its system file"):
        advise_run(folder)
    info, found = advise_run(folder, ROOT / "system.yaml")
    assert len(found) == len(load_system(ROOT / "system.yaml").spec.edges) == 7
    with pytest.raises(ConfigError, match="no history.jsonl here"):
        advise_run(tmp_path)


def test_the_cli_prints_lines_or_json(tmp_path, capsys):
    folder = order_slow_folder(tmp_path / "run")
    assert main(["advise", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "gateway->orders  (read timeout 1 s, fail_max 5, reset timeout 5 s; calls: 520 successful" in out
    assert main(["advise", str(folder), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["scenario"] == "order-slow" and [e["edge"] for e in body["edges"]][1] == "gateway->orders"
    orders = body["edges"][1]
    assert orders["latency"]["p99"] == 0.012 and orders["advice"][0]["figures"]["suggested"] == 0.6


def test_run_json_names_the_system_file(tmp_path):
    from chaos.spec.scenario import load_scenario

    system = load_system(ROOT / "system.yaml")
    scenario = load_scenario(ROOT / "scenarios" / "order-slow.yaml", system)
    info = run_info(scenario, "r1", 1.0, 2.0, True, found_versions={}, system_path=Path("system.yaml"))
    assert info["system_path"] == str((Path.cwd() / "system.yaml").resolve())
