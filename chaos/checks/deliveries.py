"""deliveries: every acknowledged request that promised a message has exactly
one, arrived within a bound after the faults ended (or after its own
acknowledgement, if that came later).

The promise comes from the system file (a route's `promises: {message, key,
sink}`), what arrived from the sink's listing read after the run
(chaos.engine.deliveries, recorded as `SinkRead`). Missing, doubled (two
messages for one promise; with `duplicates: same-id`, only two that carry
different outbox ids) and late are failures; a sink that could not be
read is unknown, with the reason. Messages for keys that were never
acknowledged (a request that timed out after its write committed) are
counted in the evidence but are not failures: nobody was promised them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Literal

from chaos.checks import Check, Verdict, register, unknown_routes
from chaos.history import History, SinkRead
from chaos.history.queries import fault_windows, load_start, promises
from chaos.spec.model import Seconds
from chaos.spec.system import System


# Not JudgesLoad: each promise is kept or not, whatever the rate it was made at.
@register
class Deliveries(Check):
    kind: Literal["deliveries"]
    within: Seconds = 30.0
    routes: list[str] | None = None  # default: every route that promises a message
    # "fail": any second copy fails. "same-id": a second copy that carries the
    # same outbox id as the first passes, counted in the evidence: what a
    # worker killed between the SMTP server's 250 and its own record sends
    # again, and what a receiver deduplicating by Message-ID shows once. Two
    # copies with different ids (the promise stored twice) still fail.
    duplicates: Literal["fail", "same-id"] = "fail"

    def title(self) -> str:
        return f"promised messages delivered once within {self.within:g} s"

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        problems = unknown_routes(self.routes, system)
        for i, r in enumerate(self.routes or []):
            if r in system.routes and system.routes[r].promises is None:
                problems.append((("routes", i), f"route '{r}' promises no message (no promises: in the system file)"))
        return problems

    def _routes(self, system: System) -> list[str]:
        return self.routes or [r for r, spec in system.routes.items() if spec.promises is not None]

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        routes = self._routes(system)
        if not routes:
            return [f"no route in {system.path.name} promises a message (promises: {{message, key, sink}})"]
        if not any(mix.get(r, 0) > 0 for r in routes):
            return [f"this scenario's load sends none of the routes that promise a message ({', '.join(routes)})"]
        return []

    def unseen(self, history: History, system: System) -> str | None:
        reads = history.of(SinkRead)
        if not reads:
            return "no sink was read after the run, so what arrived is unknown"
        bad = [r for r in reads if not r.ok]
        if bad:
            return "could not read " + "; ".join(f"sink {r.sink}: {r.detail}" for r in bad)
        return None

    def evaluate(self, history: History, system: System) -> Verdict:
        routes = set(self._routes(system))
        wanted = [p for p in promises(history, system) if p.route in routes]
        if not wanted:
            return self.verdict("unknown", "no request that promises a message was acknowledged, so there is nothing to count")
        arrived: dict[tuple[str, str], list[float]] = defaultdict(list)
        ids: dict[tuple[str, str], list[str]] = defaultdict(list)
        for read in history.of(SinkRead):
            for message, key, outbox_id, at in read.messages:
                arrived[(message, key)].append(at)
                ids[(message, key)].append(outbox_id)
        missing = [p for p in wanted if not arrived.get((p.message, p.key))]
        doubled = [p for p in wanted if len(arrived.get((p.message, p.key), [])) > 1]
        redelivered = []
        if self.duplicates == "same-id":
            redelivered = [p for p in doubled if len(set(ids[(p.message, p.key)])) == 1 and ids[(p.message, p.key)][0]]
            doubled = [p for p in doubled if p not in redelivered]
        late = [p for p in wanted if arrived.get((p.message, p.key)) and min(arrived[(p.message, p.key)]) > p.due_from + self.within]
        # A sink keeps what earlier runs sent it: count only what came during this one.
        since = load_start(history)
        promised_keys = {(p.message, p.key) for p in wanted}
        unpromised = sum(sum(at >= since for at in v) for k, v in arrived.items()
                         if k not in promised_keys and k[0] in {p.message for p in wanted})
        faults = fault_windows(history)
        faults_end = max((w.end for w in faults), default=None)
        on_time = [min(arrived[(p.message, p.key)]) - p.due_from for p in wanted if arrived.get((p.message, p.key))]
        kinds = Counter(p.message for p in wanted)
        once = len(wanted) - len(missing) - len(doubled) - len(redelivered)
        evidence = (f"{len(wanted)} messages promised ({', '.join(f'{m} {n}' for m, n in sorted(kinds.items()))}): "
                    f"{once} delivered once, {len(missing)} missing, {len(doubled)} doubled")
        if redelivered:
            evidence += (f", {len(redelivered)} sent again under the same outbox id (allowed: duplicates same-id; "
                         f"{', '.join(sorted(ids[(p.message, p.key)][0] for p in redelivered)[:3])})")
        if on_time:
            evidence += f"; the last arrived {max(on_time):.1f} s after it was due"
            evidence += " (the faults' end or its acknowledgement)" if faults_end is not None else " (its acknowledgement)"
        if unpromised:
            evidence += f"; {unpromised} more for requests never acknowledged (not promised, not judged)"
        figures = {"promised": len(wanted), "missing": len(missing), "doubled": len(doubled), "late": len(late),
                   "delivered_once": once, "redelivered_same_id": len(redelivered),
                   "last_after_due": round(max(on_time), 3) if on_time else None}
        if missing:
            return self.verdict("fail", f"{evidence}; never arrived within {self.within:g} s: "
                                + ", ".join(f"{p.message} {p.key}" for p in missing[:5]), **figures)
        if doubled:
            detail = ", ".join(f"{p.message} {p.key} x{len(arrived[(p.message, p.key)])} "
                               f"(outbox ids {', '.join(sorted(set(ids[(p.message, p.key)])))})" for p in doubled[:3])
            return self.verdict("fail", f"{evidence}; delivered more than once: {detail}", **figures)
        if late:
            return self.verdict("fail", f"{evidence}; {len(late)} arrived later than {self.within:g} s after due", **figures)
        return self.verdict("pass", f"{evidence}; bound {self.within:g} s", **figures)
