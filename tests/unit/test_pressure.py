"""How starved the machine was (chaos.engine.pressure): sampled from the
kernel's pressure files, summarised in verdicts.json, said by the soak's
table beside a run that did not pass. Evidence only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench.soak import machine_note
from chaos.engine.pressure import PressureSampler, stalled_us
from chaos.history import FaultEvent, History, Pressure
from chaos.report import machine_figures


def write(root: Path, cpu_us: int, io_us: int) -> None:
    """As the kernel shows them; each file replaced whole, as a read of /proc never sees one half-written."""
    for name, total in (("cpu", cpu_us), ("io", io_us)):
        (root / f"{name}.new").write_text(f"some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\n"
                                          "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
        os.replace(root / f"{name}.new", root / name)


def test_each_sample_is_the_share_of_its_interval_some_task_was_stalled(tmp_path):
    """Every stalled microsecond the kernel counts lands in exactly one sample,
    as a share of that sample's own interval: the shares times the intervals
    add up to the totals written, however late the writer or the sampler ran
    on a busy machine (a late writer makes one share low and the next high;
    it loses nothing)."""
    write(tmp_path, 0, 0)
    history = History()
    sampler = PressureSampler(history, every=0.2, root=tmp_path)
    assert sampler.start()
    began = time.monotonic()
    try:
        # Stalled three tenths of the time for CPU and a tenth for IO, as the kernel would count it.
        while time.monotonic() - began < 1.1:
            elapsed = time.monotonic() - began
            cpu_us, io_us = int(elapsed * 0.3e6), int(elapsed * 0.1e6)
            write(tmp_path, cpu_us, io_us)
            time.sleep(0.01)
        # Two more samples: the second of them surely read the last write.
        seen, deadline = len(history.of(Pressure)), time.monotonic() + 10
        while len(history.of(Pressure)) < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sampler.stop()
    samples = history.of(Pressure)
    assert len(samples) >= 5, samples
    assert all(0 <= p.cpu < 1 and 0 <= p.io < 1 for p in samples), samples  # none cut off at 1
    # Shares and intervals are rounded to the millisecond: a few ms over all samples.
    assert abs(sum(p.cpu * p.interval for p in samples) - cpu_us / 1e6) < 0.01, (cpu_us, samples)
    assert abs(sum(p.io * p.interval for p in samples) - io_us / 1e6) < 0.01, (io_us, samples)
    assert any(abs(p.cpu - 0.3) < 0.1 for p in samples), samples  # where the writer kept time: the rate itself


def test_no_pressure_files_no_samples_and_no_figures(tmp_path):
    history = History()
    sampler = PressureSampler(history, every=0.05, root=tmp_path / "none")
    assert not sampler.start()
    sampler.stop()
    assert history.of(Pressure) == [] and machine_figures(history) is None
    assert stalled_us(tmp_path / "none" / "cpu") is None


def test_this_kernel_gives_figures_when_it_has_the_files():
    if Path("/proc/pressure/cpu").exists():
        assert isinstance(stalled_us(Path("/proc/pressure/cpu")), int)


def test_figures_and_the_soaks_note_say_how_starved_the_machine_was(tmp_path):
    history = History()
    for i, cpu in enumerate([0.1, 0.2, 0.6, 0.8, 0.9]):
        history.append(Pressure(100.0 + i, 1.0, cpu, 0.05))
    history.append(FaultEvent(0, "start", "kill", "kill orders", ("orders",), 104.0))
    figures = machine_figures(history)
    assert figures["cpu_some"] == {"mean": 0.52, "max": 0.9} and figures["io_some"] == {"mean": 0.05, "max": 0.05}
    assert figures["cpu_some_before_first_fault"] == {"mean": 0.52, "max": 0.9}  # 100..104.5: all five
    (tmp_path / "verdicts.json").write_text(json.dumps({"machine": figures}))
    note = machine_note({"run_dir": str(tmp_path)})
    assert note == ("machine: some task waited for a CPU 52% of the load's seconds (worst second 90%), "
                    "52% in the 4 s before the first fault; for IO 5%")
    assert machine_note({"run_dir": str(tmp_path / "gone")}) is None


def test_the_units_figures_are_their_threads_cpu_and_wait_from_schedstat(tmp_path):
    """A unit that spins gets a CPU's worth of seconds a second at most, and
    a process outside the groups asked for is not counted."""
    import subprocess
    import sys

    from chaos.engine.pressure import unit_threads

    write(tmp_path, 0, 0)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        history = History()
        sampler = PressureSampler(history, every=0.5, root=tmp_path, roots=lambda: [spinner.pid])
        assert sampler.start()
        time.sleep(2.3)
        sampler.stop()
        found = unit_threads({spinner.pid})
        assert spinner.pid in found and os.getpid() not in found and found[spinner.pid][0] > 0
    finally:
        spinner.kill()
        spinner.wait()
    samples = history.of(Pressure)
    assert len(samples) >= 3
    # One thread that never sleeps is, every moment, either on a CPU or
    # waiting for one, however busy the machine (the tests run at nice 19);
    # each sample's span is between its scans of /proc, which take a moment.
    assert all(0 < p.units_cpu <= 1.1 for p in samples), samples
    busy = sum((p.units_cpu + p.units_wait) * p.interval for p in samples) / sum(p.interval for p in samples)
    assert abs(busy - 1.0) < 0.1, samples


def test_no_groups_no_units_figures(tmp_path):
    write(tmp_path, 0, 0)
    history = History()
    sampler = PressureSampler(history, every=0.1, root=tmp_path, roots=lambda: [])
    assert sampler.start()
    time.sleep(0.35)
    sampler.stop()
    assert history.of(Pressure) and all(p.units_cpu is None and p.units_wait is None for p in history.of(Pressure))
    assert "units" not in machine_figures(history)


def test_the_units_figures_by_phase_and_in_the_soaks_note(tmp_path):
    history = History()
    # 1 s samples: before the fault 1 core waiting 2 s a second, during it
    # 0.5 core waiting 0.5, after it 1 core waiting 4.
    for i in range(3):
        history.append(Pressure(101.0 + i, 1.0, 0.5, None, 1.0, 2.0))
    history.append(FaultEvent(0, "start", "kill", "kill orders", ("orders",), 103.0))
    for i in range(3):
        history.append(Pressure(104.0 + i, 1.0, 0.5, None, 0.5, 0.25))
    history.append(FaultEvent(0, "end", "kill", "kill orders", ("orders",), 106.0))
    for i in range(2):
        history.append(Pressure(107.0 + i, 1.0, 0.5, None, 1.0, 4.0))
    units = machine_figures(history)["units"]
    assert units["before"] == {"seconds": 3.0, "cores": 1.0, "wait_per_cpu_second": 2.0}
    assert units["during"] == {"seconds": 2.0, "cores": 0.5, "wait_per_cpu_second": 0.5}  # 105 and 106: wholly inside
    assert units["after"] == {"seconds": 2.0, "cores": 1.0, "wait_per_cpu_second": 4.0}
    (tmp_path / "verdicts.json").write_text(json.dumps({"machine": machine_figures(history)}))
    assert machine_note({"run_dir": str(tmp_path)}).endswith(
        "the system's units waited for a CPU, per second they ran on one: 2.0 s before, 0.5 s during, 4.0 s after the faults")


def test_without_pressure_files_the_units_figures_are_sampled_still(tmp_path):
    """A kernel with PSI switched off (RHEL 8's default) still says what the
    system's units got: the checks weigh a latency fail by it."""
    import subprocess
    import sys

    from chaos.engine.pressure import schedstat_readable
    from chaos.report.html import machine_line

    assert schedstat_readable()  # this machine's kernel; else the test could not show anything
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        history = History()
        sampler = PressureSampler(history, every=0.3, root=tmp_path / "none", roots=lambda: [spinner.pid])
        assert sampler.start()
        deadline = time.monotonic() + 10  # two samples, however busy the machine
        time.sleep(1.1)
        while len(history.of(Pressure)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        sampler.stop()
    finally:
        spinner.kill()
        spinner.wait()
    samples = history.of(Pressure)
    assert len(samples) >= 2 and all(p.cpu is None and p.io is None and p.units_cpu > 0 for p in samples), samples
    figures = machine_figures(history)
    assert figures["cpu_some"] is None and figures["io_some"] is None and figures["units"]["all"]["cores"] > 0
    line = machine_line(figures)
    assert "no pressure figures from this kernel" in line and "the system&#x27;s own units ran on" in line
    (tmp_path / "verdicts.json").write_text(json.dumps({"machine": figures}))
    assert machine_note({"run_dir": str(tmp_path)}) == "machine: no pressure figures from this kernel"  # no faults: no phases


def test_no_schedstat_and_no_pressure_files_nothing_to_sample(tmp_path):
    from chaos.engine.pressure import schedstat_readable

    assert not schedstat_readable(tmp_path)
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "schedstat").write_text("1 2\n")  # not the three fields
    assert not schedstat_readable(tmp_path)


def test_a_units_threads_are_those_of_its_root_its_group_and_what_descends_from_it(tmp_path):
    """As a container's main process and what runs under it (its own process
    groups or not), or a local unit's process group."""
    from chaos.engine.pressure import unit_threads

    def proc(pid: int, ppid: int, pgrp: int, tids=()) -> None:
        folder = tmp_path / str(pid)
        (folder / "task").mkdir(parents=True)
        (folder / "stat").write_text(f"{pid} (a (b) c) S {ppid} {pgrp} {pgrp} 0 -1\n")
        for tid in (pid, *tids):
            (folder / "task" / str(tid)).mkdir()
            (folder / "task" / str(tid) / "schedstat").write_text(f"{tid * 10} {tid} 5\n")

    proc(1, 0, 1)
    proc(100, 1, 100)              # a container's main process
    proc(101, 100, 101, (102,))    # its child in a group of its own, two threads
    proc(103, 101, 103)            # and a grandchild
    proc(200, 1, 200)              # a local unit's leader
    proc(201, 1, 200)              # in its group, parent gone (re-parented to init)
    proc(300, 1, 300)              # someone else's
    proc(301, 300, 300)
    (tmp_path / "self").mkdir()    # not a pid
    assert sorted(unit_threads({100, 200}, tmp_path)) == [100, 101, 102, 103, 200, 201]
    assert unit_threads({100}, tmp_path)[102] == (1020, 102)
    assert unit_threads({999}, tmp_path) == {}
