"""writes_durable: every write acknowledged before, during or after the fault
reads back intact after recovery, and none was stored twice."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from chaos.checks import Check, Verdict, register
from chaos.checks._windows import fault_windows
from chaos.history import History, ReadBack, Request
from chaos.system import System


@register
class WritesDurable(Check):
    kind: Literal["writes_durable"]

    def title(self) -> str:
        return "acknowledged writes survive"

    def evaluate(self, history: History, system: System) -> Verdict:
        acked = [r for r in history.of(Request) if r.write_id is not None]
        if not acked:
            return self.verdict("unknown", "no write was acknowledged, so there is nothing to read back")
        faults = fault_windows(history)
        first, last = (faults[0].start, faults[-1].end) if faults else (float("inf"), float("inf"))
        before = sum(r.t_end < first for r in acked)
        during = sum(first <= r.t_end < last for r in acked)
        read = {b.write_id: b for b in history.of(ReadBack)}
        missing = [r.write_id for r in acked if r.write_id not in read or not read[r.write_id].ok]
        doubled = [i for i, n in Counter(r.write_id for r in acked).items() if n > 1]
        evidence = f"{len(acked)} writes acknowledged ({before} before, {during} during, {len(acked) - before - during} after the fault)"
        if missing:
            details = "; ".join(read[i].detail if i in read else f"{i}: never read back" for i in missing[:5])
            return self.verdict(
                "fail", f"{evidence}; {len(missing)} not read back intact: {details}", acked=len(acked), missing=len(missing)
            )
        if doubled:
            return self.verdict("fail", f"{evidence}; ids acknowledged twice: {', '.join(doubled[:5])}", doubled=len(doubled))
        return self.verdict("pass", f"{evidence}; all {len(acked)} read back intact", acked=len(acked), missing=0)
