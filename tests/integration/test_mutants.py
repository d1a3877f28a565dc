"""The mutation score on the real shop, short form: one mutant (the breaker
that counts 404s as failures), one run and its baseline, on ports of its own.
`make mutants` is the long form: every mutant, 3 runs each."""

from __future__ import annotations

import json
import os

from .conftest import ROOT, run_chaos


def test_a_mutant_is_caught_for_its_reason_and_the_unpatched_shop_passes_the_same_scenario(tmp_path):
    # The caller's offset when it set one (engineers sharing a machine), else auto.
    offset = os.environ.get("CHAOS_PORT_OFFSET") or "auto"
    offset = "auto" if offset == "0" else offset
    result = run_chaos("--port-offset", offset, "mutants", "--only", "breaker-counts-4xx", "--repeat", "1",
                       "--reports", str(tmp_path), timeout=240)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "baseline  users-not-found run 1/1: exit 0" in out
    assert "mutant    breaker-counts-4xx run 1/1: CAUGHT" in out
    (folder,) = (tmp_path / "mutants").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    (mutant,) = summary["mutants"]
    assert summary["passed"] and mutant["caught"] == 1 and mutant["runs"] == 1
    # The right reason: the breaker for users opened under 404s, which must not count.
    assert "breaker gateway->users stays closed" in mutant["rounds"][0]["why"]
    assert "gateway->users opened" in mutant["rounds"][0]["why"]
    # The mutant's run is a real run folder, from a patched copy: the original is untouched.
    assert list((folder / "breaker-counts-4xx").glob("users-not-found-1/*/verdicts.json"))
    assert "exclude=[is_client_error]" in (ROOT / "services" / "shopkit" / "downstream.py").read_text()
