"""What a run folder must hold, and JUnit XML read and validated against
our schema of the JUnit format pytest writes (schemas/junit.xsd)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

SCHEMA = Path(__file__).parent / "schemas" / "junit.xsd"
RUN_FILES = ("history.jsonl", "verdicts.json", "run.json", "junit.xml", "report.html")


@cache
def _schema():  # type: ignore[no-untyped-def]
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA))


def assert_valid_junit(path: Path) -> None:
    """Raises (with the reason) unless `path` is valid against schemas/junit.xsd."""
    _schema().validate(str(path))


def is_valid_junit(path: Path) -> bool:
    return _schema().is_valid(str(path))


def junit_cases(path: Path) -> dict[tuple[str, str], str]:
    """(suite, case) -> "pass", or the type of the case's <failure>."""
    out = {}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for case in suite.iter("testcase"):
            failure = case.find("failure")
            out[(suite.get("name"), case.get("name"))] = "pass" if failure is None else failure.get("type")
    return out


def assert_run_folder(run_dir: Path, units: list[str]) -> dict:
    """Every file a run folder must hold is there and consistent; returns verdicts.json."""
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    assert not missing, f"{run_dir} lacks {missing}; has {sorted(p.name for p in run_dir.iterdir())}"
    for unit in units:
        assert (run_dir / "logs" / f"{unit}.log").is_file(), f"no log of {unit}"
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    assert_valid_junit(run_dir / "junit.xml")
    cases = junit_cases(run_dir / "junit.xml")
    assert {name for _, name in cases} == {v["check"] for v in verdicts["verdicts"]}
    for v in verdicts["verdicts"]:
        assert cases[(verdicts["scenario"], v["check"])] == ("pass" if v["status"] == "pass" else v["status"]), v
    page = (run_dir / "report.html").read_text()
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", page), "the report must load nothing: everything is inlined"
    assert 'id="verdicts"' in page and 'id="timeline"' in page
    return verdicts
