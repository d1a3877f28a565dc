"""Prometheus metrics of the watched breakers, shaped like Resilience4j's.

Names and labels follow Resilience4j's Micrometer metrics, so a Resilience4j
dashboard works after replacing the `resilience4j_` prefix with `chaos_`:

- `chaos_circuitbreaker_state{name,state}`: 1 for the current state, 0 for
  closed, open, half_open, disabled otherwise;
- `chaos_circuitbreaker_calls_seconds{name,kind}`: a summary (`_count`,
  `_sum`) of call durations, kind successful, failed or ignored;
- `chaos_circuitbreaker_not_permitted_calls_total{name,kind="not_permitted"}`;
- `chaos_circuitbreaker_failure_rate{name}`: percent failed among the last
  100 successful-or-failed calls, -1 while fewer than 10;
- `chaos_circuitbreaker_buffered_calls{name,kind}`: calls in that window,
  kind successful or failed;
- `chaos_circuitbreaker_transitions_total{name,from_state,to_state}` (no
  Resilience4j counterpart).

Values are read at scrape time by one custom collector in a registry of the
agent's own (not prometheus-client's global one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

STATES = ("closed", "open", "half_open", "disabled")


def _label(state: str) -> str:
    return state.replace("-", "_")


class BreakerCollector:
    """Reads every watched breaker's snapshot and record when scraped.

    `breakers()` returns (snapshot, recorder metrics) pairs.
    """

    def __init__(self, breakers: Callable[[], list[tuple[dict[str, Any], dict[str, Any]]]]) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("chaos_circuitbreaker_state", "The states of the circuit breaker",
                                  labels=["name", "state"])
        calls = SummaryMetricFamily("chaos_circuitbreaker_calls_seconds", "Total duration of calls",
                                    labels=["name", "kind"])
        refused = CounterMetricFamily("chaos_circuitbreaker_not_permitted_calls",
                                      "Total number of not permitted calls", labels=["name", "kind"])
        rate = GaugeMetricFamily("chaos_circuitbreaker_failure_rate", "The failure rate of the circuit breaker",
                                 labels=["name"])
        buffered = GaugeMetricFamily("chaos_circuitbreaker_buffered_calls",
                                     "The number of buffered successful or failed calls", labels=["name", "kind"])
        transitions = CounterMetricFamily("chaos_circuitbreaker_transitions", "State transitions of the circuit breaker",
                                          labels=["name", "from_state", "to_state"])
        for snapshot, record in self._breakers():
            name, current = snapshot["name"], _label(snapshot["state"])
            for each in STATES:
                state.add_metric([name, each], 1.0 if each == current else 0.0)
            for kind in ("successful", "failed", "ignored"):
                calls.add_metric([name, kind], count_value=record["calls"][kind], sum_value=record["seconds"][kind])
            refused.add_metric([name, "not_permitted"], record["calls"]["not_permitted"])
            rate.add_metric([name], record["failure_rate"])
            for kind, value in record["buffered"].items():
                buffered.add_metric([name, kind], value)
            for (old, new), value in sorted(record["transitions"].items()):
                transitions.add_metric([name, _label(old), _label(new)], value)
        yield from (state, calls, refused, rate, buffered, transitions)


def registry_for(breakers: Callable[[], list[tuple[dict[str, Any], dict[str, Any]]]]) -> CollectorRegistry:
    """A fresh registry holding only the breaker collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BreakerCollector(breakers))  # type: ignore[arg-type]
    return registry
