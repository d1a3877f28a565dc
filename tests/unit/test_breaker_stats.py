"""The evidence a run keeps for `chaos advise`: BreakerStats read from every
agent when the run ends, recorded in the history, round-tripping through
history.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from chaos.clients.agent import ContractError
from chaos.engine.observe import BreakerWatcher
from chaos.history import BreakerStats, History
from chaos.spec import load_system

ROOT = Path(__file__).resolve().parents[2]
LATENCY = {"window": 100, "p50": 0.004, "p90": 0.009, "p99": 0.012, "max": 0.040}


def breakers_reply(service: str, *names: str) -> dict[str, Any]:
    return {"contract": 1, "service": service, "boot_id": "0" * 32, "pid": 1, "now": 1.0, "enabled": True,
            "breakers": [{"name": n, "library": "pybreaker", "observed_by": "listener", "state": "closed", "fail_max": 5,
                          "reset_timeout": 5.0, "fail_counter": 0, "opened_at": None, "retry_at": None,
                          "calls": {"successful": 90, "failed": 6, "ignored": 1, "not_permitted": 40},
                          "failures_by_reason": {"ReadTimeout": 6}, "latency": LATENCY} for n in names]}


class FakeAgents:
    """gateway answers, orders answers outside the contract, users is down."""

    def services(self) -> list[str]:
        return ["users", "orders", "gateway"]

    def client(self, service: str, session: Any = None) -> Any:
        class Client:
            def breakers(self, timeout: Any = None) -> dict[str, Any]:
                if service == "users":
                    raise requests.ConnectionError("refused")
                if service == "orders":
                    raise ContractError("orders' agent answered outside the contract")
                return breakers_reply(service, "users", "orders")

        return Client()


def test_final_stats_records_what_answers_and_skips_what_does_not():
    history = History()
    watcher = BreakerWatcher(load_system(ROOT / "system.yaml"), history, agents=FakeAgents())  # type: ignore[arg-type]
    found = watcher.final_stats()
    assert [s.breaker for s in found] == ["gateway->users", "gateway->orders"]
    assert history.of(BreakerStats) == found
    stats = found[1]
    assert (stats.state, stats.fail_max, stats.reset_timeout, stats.enabled) == ("closed", 5, 5.0, True)
    assert stats.calls == {"successful": 90, "failed": 6, "ignored": 1, "not_permitted": 40}
    assert stats.failures_by_reason == {"ReadTimeout": 6} and stats.latency == LATENCY


def test_breaker_stats_round_trip_through_history_jsonl(tmp_path):
    stats = BreakerStats("gateway->orders", "closed", 5, 5.0, {"successful": 1, "failed": 0, "ignored": 0, "not_permitted": 0},
                         {}, LATENCY, True, 1000.0)
    old_agent = BreakerStats("orders->inventory", "open", None, None, {"successful": 0, "failed": 3, "ignored": 0, "not_permitted": 2},
                             {"OSError": 3}, None, True, 1000.5)
    History([stats, old_agent]).write_jsonl(tmp_path / "history.jsonl")
    assert History.read_jsonl(tmp_path / "history.jsonl").of(BreakerStats) == [stats, old_agent]
