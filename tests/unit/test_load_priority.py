"""The load generator's thread asks for a higher priority, and only it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from chaos.engine.load import LOAD_NICE, _prefer_this_thread


def test_only_the_generators_thread_is_preferred():
    seen: dict[str, int] = {}

    def generator() -> None:
        _prefer_this_thread()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, 0)
    t = threading.Thread(target=generator)
    t.start()
    t.join()
    # Root (CI, this machine) may raise it; anyone else keeps what it had.
    assert seen["thread"] == (LOAD_NICE if os.geteuid() == 0 else before)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    # A service the runner starts from its main thread keeps the ordinary priority.
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                           capture_output=True, text=True, check=True)
    assert int(child.stdout) == before
