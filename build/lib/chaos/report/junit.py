"""JUnit XML of verdicts, for CI dashboards: one test suite a scenario, one test case a check.

The output follows the schema pytest validates its own xunit2 output with
(as pytest writes it, xunit2): `<testsuites>` of `<testsuite>` of `<testcase>`. A check
that failed, or could not tell ("unknown" is never a pass), has a
`<failure>`. When a scenario ran several times, each check's case says
what every repeat found:

- every repeat passed: no child;
- every repeat failed: `<failure>` for the first, `<rerunFailure>` for the others;
- the repeats disagree: `<failure type="flaky">`, plus a `<flakyFailure>` for
  each failing repeat. A resilience property that holds only sometimes does
  not hold, so a flaky check is red, and tools that know Surefire's flaky
  elements can still tell it apart.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What one run found for one check."""

    status: str  # "pass", "fail", "unknown"
    evidence: str
    run: str = ""  # the run's id or folder, to find its evidence


def case_status(outcomes: Sequence[Outcome]) -> str:
    """"pass" if every outcome passed, "flaky" if they disagree, else the
    failing status ("fail", or "unknown" when no run could tell)."""
    statuses = {o.status for o in outcomes}
    if statuses == {"pass"}:
        return "pass"
    if "pass" in statuses:
        return "flaky"
    return "fail" if "fail" in statuses else "unknown"


def testcase(classname: str, name: str, outcomes: Sequence[Outcome], time_s: float | None = None) -> ET.Element:
    """One check's test case over one or more runs (see the module docstring)."""
    case = ET.Element("testcase", {"classname": classname, "name": name})
    if time_s is not None:
        case.set("time", _seconds(time_s))
    status = case_status(outcomes)
    failing = [o for o in outcomes if o.status != "pass"]
    if status == "flaky":
        ET.SubElement(case, "failure", {"type": "flaky", "message": f"flaky: failed {len(failing)} of {len(outcomes)} runs; "
                                                                    f"{failing[0].evidence}"}).text = _detail(outcomes)
        for o in failing:
            ET.SubElement(case, "flakyFailure", {"type": o.status, "message": o.evidence})
    elif status != "pass":
        first, *rest = failing
        message = first.evidence if first.status == "fail" else f"could not tell: {first.evidence}"
        ET.SubElement(case, "failure", {"type": first.status, "message": message}).text = _detail(outcomes)
        for o in rest:
            ET.SubElement(case, "rerunFailure", {"type": o.status, "message": o.evidence})
    else:
        ET.SubElement(case, "system-out").text = _detail(outcomes)
    return case


def _detail(outcomes: Sequence[Outcome]) -> str:
    return "\n".join(f"{o.status.upper():<7} {o.run + ': ' if o.run else ''}{o.evidence}" for o in outcomes)


def testsuite(name: str, cases: Sequence[ET.Element], time_s: float, timestamp: float,
              properties: Mapping[str, Any] | None = None) -> ET.Element:
    """A suite of test cases; its counts are taken from the cases."""
    suite = ET.Element("testsuite", {
        "name": name,
        "tests": str(len(cases)),
        "failures": str(sum(c.find("failure") is not None for c in cases)),
        "errors": "0",
        "skipped": "0",
        "time": _seconds(time_s),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(timestamp)),
        "hostname": socket.gethostname(),
    })
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": str(key), "value": str(value)})
    suite.extend(cases)
    return suite


def run_suite(scenario: str, verdicts: Sequence[Mapping[str, Any]], wall_time: float, timestamp: float,
              properties: Mapping[str, Any] | None = None, run: str = "") -> ET.Element:
    """The suite of one run: one case a verdict (dicts as in verdicts.json)."""
    cases = [testcase(f"chaos.{scenario}", v["check"], [Outcome(v["status"], v["evidence"], run)]) for v in verdicts]
    return testsuite(scenario, cases, wall_time, timestamp, properties)


def write(path: Path, suites: Sequence[ET.Element], name: str = "flask-chaos") -> None:
    """Write `<testsuites>` holding `suites`, with totals, as UTF-8 XML."""
    root = ET.Element("testsuites", {
        "name": name,
        "tests": str(sum(int(s.get("tests", "0")) for s in suites)),
        "failures": str(sum(int(s.get("failures", "0")) for s in suites)),
        "errors": "0",
        "time": _seconds(sum(float(s.get("time", "0")) for s in suites)),
    })
    root.extend(suites)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _seconds(value: float) -> str:
    # The schema's time type allows at most three decimals and no exponent.
    return f"{max(value, 0.0):.3f}"
