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


def test_an_interrupted_soak_passes_ctrl_c_on_and_waits_for_the_nightly_to_roll_back(tmp_path):
    """subprocess.run killed the nightly 0.25 s after a Ctrl-C, before its
    rollback and `down`: a soak stopped that way left the whole stack
    running. Now the nightly gets the interrupt and is waited for."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    import pytest

    from bench.soak import run_nightly

    done = tmp_path / "rolled-back"
    ready = tmp_path / "ready"
    child = (
        "import pathlib, signal, sys, time\n"
        "def stop(*_):\n"
        "    time.sleep(1.0)\n"
        f"    pathlib.Path({str(done)!r}).write_text('down')\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        f"pathlib.Path({str(ready)!r}).write_text('up')\n"
        "time.sleep(30)\n"
    )

    def interrupt() -> None:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_nightly([sys.executable, "-c", child])
    assert done.read_text() == "down"  # its rollback ran to the end before the soak went on
    assert time.monotonic() - started >= 1.0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert subprocess.run(["pgrep", "-f", str(done)], capture_output=True).stdout == b""


def test_an_interrupted_soak_prints_the_runs_it_did_and_exits_130(tmp_path, monkeypatch, capsys):
    """Ctrl-C an hour in: the table of what ran, not a traceback."""
    import json
    from pathlib import Path

    import bench.soak as soak

    def interrupted_nightly(cmd):
        folder = Path(cmd[cmd.index("--reports") + 1]) / "nightly" / "20261202-120000"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({
            "interrupted": "after 1 of 26 runs", "passed": False,
            "scenarios": {"order-down": {"status": "pass", "runs": [run(1, "pass", "pass")]}}}))
        raise KeyboardInterrupt

    monkeypatch.setattr(soak, "run_nightly", interrupted_nightly)
    assert soak.main(["--hogs", "none", "--repeat", "2", "--reports", str(tmp_path)]) == 130
    printed = capsys.readouterr().out
    assert "soak: INTERRUPTED after 1 of 26 runs; 2 repeats" in printed
    assert "order-down" in printed and "every check of every run passed" in printed


def test_a_soak_stopped_with_sigterm_stops_its_nightly_and_hogs_and_shows_what_ran(tmp_path):
    """A CI job's cancel, or `kill`: the nightly and the hogs live in sessions
    of their own, so a soak that simply died left them running. SIGTERM
    takes Ctrl-C's path: the nightly is interrupted and waited for, the hogs
    are stopped, the runs done are shown, exit 130."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    fake = tmp_path / "fake_nightly.py"  # writes a summary and waits, as a nightly between runs
    fake.write_text(
        "import json, pathlib, signal, sys, time\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--reports') + 1]) / 'nightly' / '20261202-120000'\n"
        "def stop(*_):\n"
        "    out.mkdir(parents=True)\n"
        "    (out / 'summary.json').write_text(json.dumps({'interrupted': 'after 1 of 20 runs', 'passed': False,\n"
        "        'scenarios': {'order-down': {'status': 'pass', 'runs': [{'repeat': 1, 'status': 'pass', 'verdicts': [], 'error': ''}]}}}))\n"
        f"    pathlib.Path({str(stopped)!r}).write_text('rolled back')\n"
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        f"pathlib.Path({str(ready)!r}).write_text('up')\n"
        "time.sleep(60)\n")
    driver = (
        "import sys, bench.soak as soak\n"
        "real = soak.run_nightly\n"
        f"soak.run_nightly = lambda cmd: real([sys.executable, {str(fake)!r}, *cmd[cmd.index('nightly') + 1:]])\n"
        f"sys.exit(soak.main(['--hogs', 'cpu', '--repeat', '1', '--reports', {str(tmp_path / 'reports')!r}]))\n")
    soak = subprocess.Popen([sys.executable, "-c", driver], cwd=root, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    hogs = subprocess.run(["pgrep", "-P", str(soak.pid), "-f", "while True: pass"], capture_output=True, text=True).stdout.split()
    assert len(hogs) == 1, hogs  # the one CPU hog asked for, a child of the soak
    soak.send_signal(signal.SIGTERM)
    out, _ = soak.communicate(timeout=30)
    left = []
    for pid in hogs:
        try:
            os.kill(int(pid), signal.SIGKILL)  # one left running fails the test below, and is stopped here
            left.append(pid)
        except ProcessLookupError:
            pass
    subprocess.run(["pkill", "-f", str(fake)])
    assert soak.returncode == 130, out
    assert stopped.read_text() == "rolled back"
    assert "soak: INTERRUPTED after 1 of 20 runs" in out and "order-down" in out
    assert not left, f"hogs left running: {left}"
