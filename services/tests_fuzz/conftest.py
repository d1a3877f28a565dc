"""Hypothesis profiles for the fuzz suite, the apps it fuzzes, and a summary
line of how many examples ran.

Profiles: "ci" (loaded when CI=true) is derandomized, so every CI run tries
the same examples, and sized so that the whole suite stays well under a
minute on two cores; "dev" (otherwise) draws new examples every run and
replays the failures it saved in .hypothesis/. HYPOTHESIS_PROFILE=name picks
one explicitly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings

import gateway
import inventory
import orders
import users
from tests_fuzz.fuzzing import EXAMPLES, connect

# Huge bodies and deep nesting are slow to draw on purpose; one shared app per
# test across examples is the point (state accumulates as in a real service).
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", derandomize=True, database=None, max_examples=200, deadline=None,
                          suppress_health_check=_SUPPRESS, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))

_seconds: list[float] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests_fuzz/" in report.nodeid:
        _seconds.append(report.duration)  # setup, call and teardown alike


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's own type
    if not EXAMPLES:
        return
    profile = settings()
    per_test = ", ".join(f"{name} {n}" for name, n in sorted(EXAMPLES.items()))
    terminalreporter.write_line(
        f"fuzz: {sum(EXAMPLES.values())} examples over {len(EXAMPLES)} tests in {sum(_seconds):.1f} s "
        f"(at most {profile.max_examples} each, {'derandomized' if profile.derandomize else 'random'}): {per_test}"
    )


@pytest.fixture(scope="module")
def clean_env() -> Iterator[None]:
    """services/conftest.py's hermetic environment, for module-scoped apps
    (created before any function-scoped fixture runs)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("SHOP_", "CHAOS_")):
                mp.delenv(name)
        yield


def _config(tmp, name: str, **extra) -> dict:
    # The chaos agent on, as the toolkit runs every service: its /_chaos
    # endpoints are fuzzed along with the service's own.
    return {"TESTING": True, "DATABASE": str(tmp / f"{name}.sqlite3"), "CHAOS_AGENT": True, **extra}


def _capped_long_polls(app: Flask) -> Flask:
    # GET /_chaos/breakers/transitions?wait=5 legitimately holds a request for
    # up to 5 s when nothing happens; the fuzz judges answers, not waiting, so
    # waits are cut to 10 ms (the query is validated exactly as before). The
    # agent has no setting for this, so its transition log is patched: the
    # endpoint calls `runtime.log.since(after, wait)` on each request.
    log = app.extensions["shopkit.agent"]._runtime.log
    since = log.since
    log.since = lambda after, wait=0.0: since(after, min(wait, 0.01))
    return app


@pytest.fixture(scope="module")
def apps(clean_env, tmp_path_factory) -> dict[str, Flask]:
    """The four services wired to each other in process (the gateway to users
    and orders, orders to inventory), plus an orders and a gateway whose
    downstreams refuse connections."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with socket.socket() as sock:  # a loopback port nobody listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{sock.getsockname()[1]}"
    built = {
        "users": users.create_app(_config(tmp, "users", SEED_USERS=5)),
        "inventory": inventory.create_app(_config(tmp, "inventory", SEED_STOCK=1_000)),
        "orders": orders.create_app(_config(tmp, "orders", INVENTORY_URL="http://inventory.fuzz")),
        "gateway": gateway.create_app(_config(tmp, "gateway", USERS_URL="http://users.fuzz", ORDERS_URL="http://orders.fuzz")),
        "orders-alone": orders.create_app(_config(tmp, "orders-alone", INVENTORY_URL=refused)),
        "gateway-alone": gateway.create_app(_config(tmp, "gateway-alone", USERS_URL=refused, ORDERS_URL=refused)),
    }
    connect(built["orders"], "inventory", built["inventory"])
    connect(built["gateway"], "users", built["users"])
    connect(built["gateway"], "orders", built["orders"])
    return {name: _capped_long_polls(app) for name, app in built.items()}


@pytest.fixture(scope="module")
def apps_with_assaults(clean_env, tmp_path_factory) -> Flask:
    """users with the chaos agent on, controlled from loopback: its assaults
    endpoint (/_chaos/assaults) takes what it is sent."""
    tmp = tmp_path_factory.mktemp("fuzz-assaults")
    return _capped_long_polls(users.create_app(_config(tmp, "users")))
