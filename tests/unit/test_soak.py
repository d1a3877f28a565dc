"""make soak's table: a run counts as failed when any check failed, unknown
when none failed but some could not tell; every check that did not pass is
listed with its evidence."""

from bench.soak import table


def run(repeat, *statuses, error=""):
    verdicts = [{"check": f"c{i}", "status": s, "evidence": f"why {s}"} for i, s in enumerate(statuses)]
    return {"repeat": repeat, "status": "error" if error else ("pass" if set(statuses) == {"pass"} else "fail"),
            "verdicts": verdicts, "error": error}


def test_the_table_counts_runs_and_lists_what_did_not_pass():
    summary = {"scenarios": {
        "order-down": {"status": "pass", "runs": [run(1, "pass", "pass"), run(2, "pass", "pass")]},
        "order-slow": {"status": "flaky", "runs": [run(1, "pass", "fail"), run(2, "unknown", "pass"), run(3, error="port in use")]},
    }}
    rows = table(summary)
    assert rows[2].split() == ["order-down", "2", "2", "0", "0", "pass"]
    assert rows[3].split() == ["order-slow", "3", "0", "2", "1", "flaky"]
    assert rows[5].split() == ["all", "5", "2", "2", "1"]
    assert "  order-slow run 1: FAIL c1: why fail" in rows
    assert "  order-slow run 2: UNKNOWN c0: why unknown" in rows
    assert "  order-slow run 3: ERROR port in use" in rows
    assert table({"scenarios": {"a": {"status": "pass", "runs": [run(1, "pass")]}}})[-1] == "every check of every run passed"
