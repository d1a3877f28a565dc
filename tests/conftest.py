"""Shared fixtures: the repository root and the sample system file."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def system():
    from chaos.system import load_system

    return load_system(ROOT / "system.yaml")
