"""order-down, written in Python instead of YAML, run by pytest against the
sample shop. Run from the repository root (it starts the shop if it is not up
and stops it afterwards):

    .venv/bin/python -m pytest --chaos-system system.yaml examples/pytest -v
"""

import pytest

from chaos.pytest_plugin import assert_verdicts

# The same shape as scenarios/order-down.yaml; validated the same way, so a
# typo fails the test naming the field (`faults[0].servce: unknown field`).
ORDER_DOWN = {
    "name": "order-down-py",
    "description": "orders is killed under load and started again; the gateway's breaker must protect the rest.",
    "duration": "30s",
    "parameters": {"down_for": {"type": "duration", "default": "10s", "max": 12}},
    "load": {"rate": 30, "mix": {"user": 3, "profile": 2, "user-orders": 1, "place-order": 2}},
    "faults": [{"kind": "kill", "service": "orders", "at": "8s", "duration": "${down_for}"}],
    "checks": [
        {"kind": "breaker_opens", "breaker": "gateway->orders", "within": "3s"},
        {"kind": "fails_fast", "breaker": "gateway->orders"},
        {"kind": "containment"},
        {"kind": "breaker_recovers", "breaker": "gateway->orders"},
        {"kind": "writes_durable"},
    ],
}


@pytest.mark.parametrize("down_for", ["5s", "10s"])
def test_the_gateway_survives_orders_going_down(chaos_run, down_for):
    result = chaos_run(ORDER_DOWN, down_for=down_for)
    assert_verdicts(result)  # fails listing every check that failed or could not tell, with its evidence


def test_a_library_scenario_by_name(chaos_run):
    result = chaos_run("order-slow", latency_ms=2000)
    assert result.passed, [f"{v.status}: {v.check}: {v.evidence}" for v in result.verdicts if not v.passed]
    assert result.run_dir is not None and (result.run_dir / "report.html").exists()
