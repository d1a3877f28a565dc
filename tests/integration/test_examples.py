"""The two examples under examples/ run as a user runs them: real gunicorn
processes, a real Toxiproxy, `chaos --system examples/X/system.yaml run
stock-down`. With the agent on every check passes; with it switched off the
breaker checks are UNKNOWN saying why, and nothing says FAIL; `--breakers off`
on services that declare no agent is refused naming the service.

Each example has its own ports (pybreaker-shop 18000-18099, Toxiproxy 18474;
circuitbreaker-shop 18100-18199, Toxiproxy 18574), so these tests never touch
the sample shop's. Everything started is stopped with `down`, pass or fail.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, run_chaos

pytestmark = pytest.mark.integration

EXAMPLES = {"pybreaker-shop": (18001, 18002, 18011, 18474), "circuitbreaker-shop": (18101, 18102, 18111, 18574)}
FALLBACK_NAMES = {"pybreaker-shop": "stock", "circuitbreaker-shop": "status 503"}
BREAKER_CHECKS = ["breaker front->stock opens within 2 s", "front->stock fails fast", "breaker front->stock recovers"]


# make test runs the pybreaker example; the circuitbreaker one (the same
# checks through the other library's adapter, which tests/agent drives on its
# own) runs in make test-long, to keep make test under its 20 minutes.
@pytest.fixture(params=[name if name == "pybreaker-shop" else pytest.param(name, marks=pytest.mark.long) for name in EXAMPLES])
def example(request) -> Iterator[Path]:
    """The example's system file; everything it started is stopped afterwards."""
    path = ROOT / "examples" / request.param / "system.yaml"
    yield path
    down(path)


@pytest.fixture
def copies(tmp_path) -> Iterator[list[Path]]:
    """System files the test writes into tmp; each is brought down afterwards."""
    made: list[Path] = []
    yield made
    for path in made:
        down(path)


def down(path: Path) -> None:
    done = run_chaos("--system", str(path), "down", timeout=60)
    assert done.returncode == 0, done.stderr


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def copy_system(example: Path, dest: Path, *, agent_env: str | None = None, drop_agent: bool = False) -> Path:
    """The example's system file written to `dest`, its folders made absolute
    (so it still finds the apps, proxy list and scenarios), with CHAOS_AGENT
    set in every service's env or every `agent:` removed."""
    data = yaml.safe_load(example.read_text())
    root = example.parent
    tp = data["toxiproxy"]
    tp["command"] = [str(root / part) if part == tp["proxies"] else part for part in tp["command"]]
    tp["proxies"] = str(root / tp["proxies"])
    data["scenarios"] = str(root / data.get("scenarios", "scenarios"))
    for service in data["services"].values():
        service["cwd"] = str(root / service.get("cwd", "."))
        if agent_env is not None:
            service["env"] = {**service.get("env", {}), "CHAOS_AGENT": agent_env}
        if drop_agent:
            service.pop("agent", None)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "system.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return dest / "system.yaml"


def run_folder(reports: Path) -> Path:
    (folder,) = [p for p in reports.iterdir() if p.is_dir()]
    return folder


def run_folder_verdicts(reports: Path) -> dict:
    return json.loads((run_folder(reports) / "verdicts.json").read_text())


def verdict_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if re.match(r"^\s+(PASS|FAIL|UNKNOWN)\s", line)]


def test_with_the_agent_on_every_check_passes(example, tmp_path):
    done = run_chaos("--system", str(example), "run", "stock-down", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = verdict_lines(done.stdout)
    assert len(lines) == 4 and all(line.startswith("PASS") for line in lines), lines
    assert "4 passed, 0 failed" in done.stdout and "stock-down: PASSED" in done.stdout
    verdicts = run_folder_verdicts(tmp_path / "reports")
    assert verdicts["passed"] is True
    assert [v["status"] for v in verdicts["verdicts"]] == ["pass"] * 4, verdicts
    assert verdicts["verdicts"][1]["figures"]["fallback_share"] >= 0.95
    # How each example's fallbacks were told: the agent's X-Fallback header
    # (pybreaker-shop), or the system file's rule for front's JSON 503
    # (circuitbreaker-shop: its rule replaces the agent's header).
    events = [json.loads(line) for line in (run_folder(tmp_path / "reports") / "history.jsonl").read_text().splitlines()]
    names = {e["fallback"] for e in events if e["kind"] == "request" and e["fallback"]}
    assert names == {FALLBACK_NAMES[example.parent.name]}, names


def test_with_the_agent_switched_off_the_breaker_checks_are_unknown_and_nothing_fails(example, tmp_path, copies):
    off = copy_system(example, tmp_path / "off", agent_env="off")
    copies.append(off)
    done = run_chaos("--system", str(off), "run", "stock-down", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = run_folder_verdicts(tmp_path / "reports")
    by_check = {v["check"]: v for v in verdicts["verdicts"]}
    assert verdicts["passed"] is False
    assert "fail" not in {v["status"] for v in verdicts["verdicts"]}, verdicts
    for check in BREAKER_CHECKS:
        evidence = by_check[check]["evidence"]
        assert by_check[check]["status"] == "unknown", by_check[check]
        assert "was never observed: front's agent could not be read" in evidence and "HTTP 404" in evidence, evidence
    assert by_check["unaffected routes contained"]["status"] == "pass"
    assert not [line for line in verdict_lines(done.stdout) if line.startswith("FAIL")]
    assert "1 passed, 0 failed, 3 unknown" in done.stdout and "stock-down: UNKNOWN" in done.stdout


def test_breakers_off_without_agents_is_refused_naming_the_service(example, tmp_path, copies):
    bare = copy_system(example, tmp_path / "bare", drop_agent=True)
    copies.append(bare)
    done = run_chaos("--system", str(bare), "run", "stock-down", "--breakers", "off", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--breakers: off needs the agent" in done.stderr and "front declares no agent" in done.stderr
    assert not any(listening(port) for port in EXAMPLES[example.parent.name]), "nothing may be started"
