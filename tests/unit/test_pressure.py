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
    write(tmp_path, 0, 0)
    history = History()
    sampler = PressureSampler(history, every=0.2, root=tmp_path)
    assert sampler.start()
    began = time.monotonic()
    try:
        # Stalled at half speed for CPU and a tenth for IO, as the kernel would count it.
        while time.monotonic() - began < 1.1:
            elapsed = time.monotonic() - began
            write(tmp_path, int(elapsed * 0.5e6), int(elapsed * 0.1e6))
            time.sleep(0.01)
    finally:
        sampler.stop()
    samples = history.of(Pressure)
    assert len(samples) >= 3
    for p in samples[1:]:  # the first interval began before the writer's first write
        assert abs(p.cpu - 0.5) < 0.15 and abs(p.io - 0.1) < 0.1, samples


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
