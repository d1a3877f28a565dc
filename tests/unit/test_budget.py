"""The timeout-budget lint: a caller that gives up before the service it
calls can fail over is named with file, line and field; the shop is clean."""

from __future__ import annotations

from pathlib import Path

from chaos.cli import main
from chaos.spec import load_system
from chaos.spec.budget import timeout_budget

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "systems" / "bad-budget" / "system.yaml"


def test_the_shops_budget_is_clean():
    # gateway waits 1.0 s on orders, which waits 0.5 s on inventory
    assert timeout_budget(load_system(ROOT / "system.yaml")) == []


def test_a_caller_shorter_than_the_wait_behind_it_is_named_with_file_line_and_field():
    (warning,) = timeout_budget(load_system(BAD))
    assert (warning.path, warning.line, warning.field) == (BAD, 26, "edges[0].read_timeout")
    assert str(warning) == (
        f"{BAD}:26: edges[0].read_timeout: front->middle: read timeout 0.5 s is shorter than middle's own wait on back "
        "(middle->back read timeout 1 s): front gives up before middle can fail over; make it at least 1 s plus middle's own work")


def test_validate_prints_the_warning_and_still_exits_0(capsys):
    assert main(["--system", str(BAD), "validate"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {BAD}:26: edges[0].read_timeout: front->middle: read timeout 0.5 s" in err


def test_the_longest_wait_behind_counts_and_a_system_built_in_code_has_no_line():
    system = load_system(ROOT / "system.yaml")
    system.source = None
    edges = system.spec.edges
    edges[2] = edges[2].model_copy(update={"read_timeout": 1.5})  # orders->inventory now waits longer than gateway on orders
    (warning,) = timeout_budget(system)
    assert warning.line is None and warning.field == "edges[1].read_timeout"
    assert "gateway->orders: read timeout 1 s is shorter than orders' own wait on inventory (orders->inventory read timeout 1.5 s)" in str(warning)
