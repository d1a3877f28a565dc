"""writes_durable: every write acknowledged before, during or after the fault
reads back intact after recovery, and none was stored twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Literal

from chaos.checks import Check, Verdict, register
from chaos.history.queries import fault_windows
from chaos.history import History, ReadBack, Request
from chaos.spec.system import System


# Not JudgesLoad: each acknowledged write reads back or not, whatever the rate it was sent at.
@register
class WritesDurable(Check):
    kind: Literal["writes_durable"]

    def title(self) -> str:
        return "acknowledged writes survive"

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        writes = [r for r, spec in system.routes.items() if spec.write is not None]
        if any(mix.get(r, 0) > 0 for r in writes):
            return []
        if not writes:
            return [f"no route in {system.path.name} declares write: (how to read a write back), so no write can be checked"]
        return [f"this scenario's load sends none of the write routes ({', '.join(writes)})"]

    def evaluate(self, history: History, system: System) -> Verdict:
        acked = [r for r in history.of(Request) if r.write_id is not None]
        if not acked:
            return self.verdict("unknown", "no write was acknowledged, so there is nothing to read back")
        faults = fault_windows(history)
        first, last = (faults[0].start, faults[-1].end) if faults else (float("inf"), float("inf"))
        before = sum(r.t_end < first for r in acked)
        during = sum(first <= r.t_end < last for r in acked)
        # Ids are per route: two write routes may both hand out id 7.
        read = {(b.route, b.write_id): b for b in history.of(ReadBack)}
        # Lost for sure: the service said it is not there (404) or gave it back
        # different. A read-back that got no answer (a timeout, a 5xx from a
        # system still busy) proves nothing either way.
        missing = sorted({(r.route, r.write_id) for r in acked if (r.route, r.write_id) in read and _lost(read[(r.route, r.write_id)])})
        unread = sorted({(r.route, r.write_id) for r in acked
                         if (r.route, r.write_id) not in read or not (read[(r.route, r.write_id)].ok or _lost(read[(r.route, r.write_id)]))})
        ids_by_key: dict[str, set[str]] = {}
        for r in acked:
            if r.write_key is not None:
                ids_by_key.setdefault(r.write_key, set()).add(r.write_id or "")
        doubled = [k for k, ids in ids_by_key.items() if len(ids) > 1]
        shared = [i for (_, i), n in Counter((r.route, r.write_id) for r in acked if r.write_key is None).items() if n > 1]
        retried = sum(1 for r in history.of(Request) if r.attempt > 1 and r.write_key is not None)
        evidence = f"{len(acked)} writes acknowledged ({before} before, {during} during, {len(acked) - before - during} after the fault)"
        if missing:
            details = "; ".join(read[i].detail if i in read else f"{i[1]}: never read back" for i in missing[:5])
            return self.verdict(
                "fail", f"{evidence}; {len(missing)} not read back intact: {details}", acked=len(acked), missing=len(missing)
            )
        if doubled:
            detail = "; ".join(f"{k}: ids {', '.join(sorted(ids_by_key[k]))}" for k in doubled[:3])
            return self.verdict("fail", f"{evidence}; {len(doubled)} written twice under one key: {detail}", doubled=len(doubled))
        if shared:
            return self.verdict("fail", f"{evidence}; one id acknowledged for different writes: {', '.join(shared[:5])}", doubled=len(shared))
        if unread:
            details = "; ".join(read[i].detail if i in read else f"{i[1]}: never read back" for i in unread[:5])
            return self.verdict("unknown", f"{evidence}; {len(unread)} could not be read back, so whether they survived is unknown: "
                                           f"{details}", acked=len(acked), unread=len(unread))
        unique = len({(r.route, r.write_id) for r in acked})
        retries = f"; {retried} failed writes retried with their key, none stored twice" if retried else ""
        return self.verdict("pass", f"{evidence}; all {unique} read back intact{retries}", acked=len(acked), missing=0, retried=retried)


def _lost(b: ReadBack) -> bool:
    """The read-back says the write is gone or changed (not merely unanswered)."""
    return b.status == 404 or (b.status is not None and 200 <= b.status < 300 and not b.ok)
