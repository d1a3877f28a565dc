"""Per-process breakers, seen: a real Flask + pybreaker app under
gunicorn -w 4 (examples/gunicorn-workers), its downstream's Toxiproxy proxy
taken down. Each worker keeps its breaker in memory, so the toolkit must see
all four and fail the breaker checks naming the workers; the same app under
one worker passes them (no false alarm from the new check)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, run_chaos

EXAMPLE = ROOT / "examples" / "gunicorn-workers" / "system.yaml"
# The run's ports: $CHAOS_PORT_OFFSET when the caller set one, else a free offset.
OFFSET = os.environ.get("CHAOS_PORT_OFFSET") or "auto"


def _run(system: Path, reports: Path) -> tuple[object, list[dict], dict]:
    done = run_chaos("--port-offset", OFFSET, "--system", str(system), "run", "stock-down", "--reports", str(reports),
                     timeout=120)
    (folder,) = [p for p in reports.iterdir() if p.is_dir()]
    events = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    verdicts = {v["check"]: v for v in json.loads((folder / "verdicts.json").read_text())["verdicts"]}
    return done, events, verdicts


def test_four_workers_with_memory_breakers_are_all_seen_and_fail_the_breaker_checks(tmp_path):
    done, events, verdicts = _run(EXAMPLE, tmp_path / "reports")
    assert done.returncode == 1, done.stdout + done.stderr
    views = [e for e in events if e["kind"] == "worker-views"]
    live = set(views[-1]["live"])
    assert len(live) == 4, views[-1]
    # every live worker showed its own copy of the breaker, through whichever worker answered
    assert {pid for _, pid, _ in views[-1]["views"]} == live
    moved = {e["worker"] for e in events if e["kind"] == "transition"}
    assert moved and moved <= live
    opens = verdicts["breaker front->stock opens within 2 s"]
    agree = verdicts["every worker agrees on breaker front->stock"]
    assert opens["status"] == "fail" and agree["status"] == "fail", (opens, agree)
    assert opens["figures"]["workers"] == 4 and 0 < opens["figures"]["workers_opened"] < 4, opens
    assert "per-process breakers: front->stock opened in" in opens["evidence"]
    assert "per-process breakers: the 4 workers of front disagreed" in agree["evidence"]
    assert agree["figures"]["longest_s"] > agree["figures"]["bound_s"]
    assert "(worker " in done.stdout  # the live console names the worker of each transition


@pytest.mark.long  # make test-long: kept out of make test's 20 minutes (see Makefile)
def test_the_same_app_under_one_worker_passes_them(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    root = EXAMPLE.parent
    data["toxiproxy"]["command"] = [str(root / p) if p == data["toxiproxy"]["proxies"] else p for p in data["toxiproxy"]["command"]]
    data["toxiproxy"]["proxies"] = str(root / data["toxiproxy"]["proxies"])
    data["scenarios"] = str(root / "scenarios")
    for service in data["services"].values():
        service["cwd"] = str((root / service.get("cwd", ".")).resolve())
    command = data["services"]["front"]["command"]
    command[command.index("-w") + 1] = "1"
    (tmp_path / "one").mkdir()
    system = tmp_path / "one" / "system.yaml"
    system.write_text(yaml.safe_dump(data, sort_keys=False))
    done, events, verdicts = _run(system, tmp_path / "reports")
    assert done.returncode == 0, done.stdout + done.stderr
    agree = verdicts["every worker agrees on breaker front->stock"]
    assert agree["status"] == "pass" and "front ran one worker process" in agree["evidence"], agree
    assert verdicts["breaker front->stock opens within 2 s"]["status"] == "pass"
