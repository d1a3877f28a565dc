"""As a new user: a fresh virtual environment, `pip install '.[agent]'` (not
editable: the wheel must carry the contract's schemas and the report's
plotly bundle), `chaos setup`, then the pybreaker example (a small Flask app
with the agent in two lines) run from a copy outside the checkout. Its
breaker's transitions show live and every check judges it, and passes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..judged import until_judged
from .conftest import ROOT

pytestmark = pytest.mark.integration


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_a_fresh_install_judges_a_pybreaker_app(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CHAOS_"))}
    env["CHAOS_TOOLS"] = str(tmp_path / "tools")
    env["PATH"] = f"{venv / 'bin'}:{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}"
    example = tmp_path / "pybreaker-shop"
    shutil.copytree(ROOT / "examples" / "pybreaker-shop", example, ignore=shutil.ignore_patterns(".chaos", "__pycache__"))
    # From a copy of the checkout: setuptools builds in the source folder, and a test must not leave build/ there.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".tools", ".chaos", "reports", "build", "*.egg-info",
                                                                "__pycache__", ".hypothesis", "wheels", "_agent"))
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = run([*pip, f"{source}[agent]", "-r", str(example / "requirements.txt")], tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]

    setup = run([str(venv / "bin" / "chaos"), "setup"], example, env, timeout=300)  # links the toxiproxy-server on PATH
    assert setup.returncode == 0 and "toxiproxy-server is at" in setup.stdout, setup.stdout + setup.stderr
    env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH'].replace(str(ROOT / '.tools' / 'bin'), '')}"  # found in the tools folder now

    try:
        result = until_judged(lambda: run([str(venv / "bin" / "chaos"), "--system", "system.yaml", "run", "stock-down",
                                           "--reports", str(tmp_path / "reports")], example, env, timeout=180),
                              tmp_path / "reports")
    finally:
        run([str(venv / "bin" / "chaos"), "--system", "system.yaml", "down"], example, env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "front->stock  closed -> open" in result.stdout  # the transition, live
    (run_dir,) = list((tmp_path / "reports").iterdir())
    verdicts = json.loads((run_dir / "verdicts.json").read_text())["verdicts"]
    assert [v["status"] for v in verdicts] == ["pass"] * 4, verdicts
    assert (run_dir / "report.html").stat().st_size < 1_000_000
    # The installed toolkit ran, not the checkout's.
    where = run([py, "-c", "import chaos; print(chaos.__file__)"], tmp_path, env)
    assert str(venv) in where.stdout
