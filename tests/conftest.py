"""Shared fixtures: the repository root and the sample system file; the
hypothesis profiles of the toolkit's tests."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# "ci": the same examples on every run, so CI is repeatable; sized so the
# malformed-file suite stays under a minute on two cores. "dev" (the default)
# draws new examples each run. Examples run the CLI, whose time varies with
# load, so there is no deadline. (services/ registers its own profiles.)
_SHARED = dict(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, print_blob=True, **_SHARED)
settings.register_profile("dev", **_SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def system():
    from chaos.spec import load_system

    return load_system(ROOT / "system.yaml")
