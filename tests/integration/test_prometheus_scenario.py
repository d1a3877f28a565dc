"""A real Prometheus scrapes a service's agent while a real scenario runs
(the pybreaker example's stock-down): its query API shows the breaker's
state change, open during the fault and closed again after, as a dashboard
made for Resilience4j's metrics would show it."""

from __future__ import annotations

import pytest

from ..prometheus import prometheus_server, query, wait_for
from .conftest import ROOT, run_chaos

pytestmark = pytest.mark.integration

SYSTEM = ROOT / "examples" / "pybreaker-shop" / "system.yaml"
FRONT = 18001


@pytest.mark.long  # make test-long: kept out of make test's 20 minutes (see Makefile)
def test_prometheus_sees_the_breaker_open_and_close_during_a_scenario(tmp_path):
    with prometheus_server(tmp_path) as start:
        base = start(FRONT)
        try:
            result = run_chaos("--system", str(SYSTEM), "run", "stock-down", "--keep-up", "--reports", str(tmp_path / "reports"))
            assert result.returncode == 0, result.stdout + result.stderr
            # Still up (--keep-up): the last scrape says closed again.
            wait_for(base, 'chaos_circuitbreaker_state{name="stock",state="closed"}', 1.0)
        finally:
            run_chaos("--system", str(SYSTEM), "down", timeout=60)
        window = "[2m]"
        assert query(base, f'max_over_time(chaos_circuitbreaker_state{{name="stock",state="open"}}{window})') == 1.0
        assert query(base, f'changes(chaos_circuitbreaker_state{{name="stock",state="open"}}{window})') >= 2  # opened, closed
        assert query(base, f'max_over_time(chaos_circuitbreaker_not_permitted_calls_total{{name="stock"}}{window})') > 0
        assert query(base, f'max_over_time(chaos_circuitbreaker_calls_seconds_count{{name="stock",kind="failed"}}{window})') >= 3
