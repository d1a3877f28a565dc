"""The pytest plugin against the real stack, as the README shows it:
`pytest --chaos-system system.yaml scenarios/order-down.yaml --junitxml=x.xml`
runs the scenario once, one test a check, and pytest's own JUnit XML carries
each verdict with its evidence."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from .test_scenarios import assert_nothing_left_running
from ..judged import until_judged
from .conftest import ROOT

pytestmark = pytest.mark.integration


def test_pytest_runs_a_scenario_file_as_one_test_a_check(tmp_path, system):
    assert_nothing_left_running(system)
    xml = tmp_path / "x.xml"
    env = {**os.environ, "PATH": f"{ROOT / '.tools' / 'bin'}:{os.environ['PATH']}", "CI": ""}
    done = until_judged(lambda: subprocess.run(
        [sys.executable, "-m", "pytest", "--chaos-system", "system.yaml", "scenarios/order-down.yaml", f"--junitxml={xml}",
         "--chaos-reports", str(tmp_path / "reports"), "-p", "no:randomly"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL), tmp_path / "reports")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    assert set(cases) == {"breaker gateway->orders opens within 3 s", "gateway->orders fails fast", "degraded answers served on profile",
                          "unaffected routes contained", "breaker gateway->orders recovers", "acknowledged writes survive"}
    for name, case in cases.items():
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["status"] == "pass" and props["evidence"], (name, props)
    assert " open" in {p.get("name"): p.get("value") for p in cases["breaker gateway->orders opens within 3 s"].iter("property")}["evidence"]
    assert_nothing_left_running(system)  # the plugin started the stack, so it stopped it
