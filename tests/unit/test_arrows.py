"""The arrows of the house run one way: services -> agent, engine -> contract.

The engine (every chaos module but the agent and the pytest plugin) never
imports Flask, so it can judge any system without being one; nothing under
services/ imports the engine, so the sample shop is built like any other
app that installs the agent.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import chaos

ROOT = Path(__file__).resolve().parents[2]
# Not the engine: the agent is the service side; the plugin is pytest's side.
NOT_ENGINE = ("chaos.agent", "chaos.pytest_plugin")


def engine_modules() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages(chaos.__path__, "chaos.")]
    return sorted(m for m in found if not m.startswith(NOT_ENGINE) and m != "chaos.__main__")


def test_the_engine_imports_no_flask():
    modules = engine_modules()
    assert len(modules) > 40  # the walk found the engine, not an empty package
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('flask', 'werkzeug', 'pybreaker', 'circuitbreaker')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_under_services_imports_the_engine():
    files = [p for p in (ROOT / "services").rglob("*.py") if "_agent" not in p.parts]
    assert len(files) > 30
    wrong = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m == "chaos" or
                                             (m.startswith("chaos.") and not m.startswith("chaos.agent")))
             for p in files}
    assert {f: m for f, m in wrong.items() if m} == {}
