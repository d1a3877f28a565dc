"""Fault schedules for `chaos explore`: Hypothesis strategies over the fault
catalogue of a system file, and each schedule as ordinary scenario data.

A schedule is one to `max_faults` faults, each a kind, a target, its
parameters, a start, a length and maybe a flap, drawn only from what fits
the system: the fault registry's kinds that have a parameter strategy here
and that the runtime can inject (`OnlyOn`), on the system's edges and on
every service but the entrypoint (every route needs the entrypoint, so no
property could hold through a fault on it). Two faults never share a target
(an edge, or a service; and there is at most one partition), so they
overlap freely without undoing each other.

Strategies are ordered so that Hypothesis shrinks towards a schedule a
person reads at once: fewer faults, the first kind of `KIND_ORDER` (a
refusal before a slowdown), the first target in the system file, the
earliest start, the shortest length, no flap.

Every example is a short, time-compressed scenario (`Profile`): a few
seconds of baseline, faults inside a short window, then a tail long enough
for every breaker to close again (its reset timeout plus the recovery
bound), with the system-wide properties as its checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from chaos.faults import FAULTS, Instant, OnlyOn
from chaos.spec.system import System

# Simplest first: what the shrinker moves towards.
KIND_ORDER = ("down", "kill", "latency", "timeout", "reset_peer", "pause", "stop", "restart", "partition", "bandwidth", "http_error")
EDGE, SERVICE = "edge", "service"


@dataclass(frozen=True)
class Profile:
    """The shape of every example, in seconds: short, so one example takes
    seconds. `reset_timeout` is the longest the agents report with the
    system file's `explore.env` applied (a short one there keeps the tail short)."""

    baseline: float = 2.5  # load before the first fault can start (containment's baseline needs ten requests a route)
    latest_offset: float = 3.0  # a fault starts at most this long after the baseline
    # Faults last longer than containment's grace (3 s, the time a breaker
    # needs to trip and the queue behind it to drain), so there is something to judge.
    shortest: float = 3.5
    longest: float = 7.0
    step: float = 0.5
    max_faults: int = 3
    rate: float = 40.0
    reset_timeout: float = 2.0
    recovery: float = 2.0  # breaker_recovers' bound beyond the reset timeout
    settle: float = 1.0  # load after the recovery bound, so a late close is still seen

    @property
    def tail(self) -> float:
        """Load after the last fault ends: time for every breaker to close and be seen closed."""
        return self.reset_timeout + self.recovery + self.settle


@dataclass(frozen=True)
class Catalogue:
    """What can be faulted on one system, and what was left out and why."""

    kinds: tuple[str, ...]
    targets: Mapping[str, tuple[tuple[str, str], ...]]  # kind -> ((field, name), ...)
    read_timeouts: Mapping[str, float]  # edge -> its read timeout, s
    left_out: Mapping[str, str] = field(default_factory=dict)  # kind -> why

    def signature(self) -> dict[str, Any]:
        """What makes two catalogues draw the same schedules (for the example database's key)."""
        return {"kinds": list(self.kinds), "targets": {k: [list(t) for t in v] for k, v in self.targets.items()},
                "read_timeouts": dict(self.read_timeouts)}


# Parameters per kind, as strategies of the fields beside kind/target/time.
# A kind without an entry is left out (and the summary says so).
Params = Callable[[str, str, "Catalogue"], st.SearchStrategy[dict[str, Any]]]


def _none(field_: str, target: str, cat: Catalogue) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({})


def _latency(field_: str, edge: str, cat: Catalogue) -> st.SearchStrategy[dict[str, Any]]:
    # Far past the read timeout (the breaker's case) or well under it (a
    # tolerable slowdown). Not in between: there a breaker is not meant to
    # act, and whether routes hold depends on capacity (rate x latency
    # against the caller's threads), which is not what explore judges.
    timeout_ms = cat.read_timeouts[edge] * 1000
    return st.sampled_from([3.0, 1.5, 0.1]).map(lambda f: {"latency": int(f * timeout_ms)})


PARAMS: dict[str, tuple[tuple[str, ...], Params]] = {
    "down": ((EDGE,), _none),
    "kill": ((SERVICE,), _none),
    "latency": ((EDGE,), _latency),
    "timeout": ((EDGE,), lambda f, t, c: st.just({"timeout": 0})),
    "reset_peer": ((EDGE,), lambda f, t, c: st.just({"timeout": 0})),
    "pause": ((SERVICE,), _none),
    "stop": ((SERVICE,), _none),
    "restart": ((SERVICE,), _none),
    "partition": ((EDGE, SERVICE), _none),
    "bandwidth": ((EDGE,), lambda f, t, c: st.sampled_from([1, 100]).map(lambda r: {"rate": r})),
    "http_error": ((SERVICE,), lambda f, t, c: st.sampled_from([1.0, 0.5]).map(lambda s: {"share": s, "status": 500})),
}


def catalogue(system: System, runtime: str = "local") -> Catalogue:
    """The kinds and targets explore draws from on `system` under `runtime`."""
    edges = tuple(system.edges)
    services = tuple(n for n in system.services if n != system.spec.entrypoint)
    with_agent = tuple(n for n in services if system.services[n].agent is not None)
    kinds, targets, left_out = [], {}, {}
    order = [k for k in KIND_ORDER if k in FAULTS] + sorted(k for k in FAULTS if k not in KIND_ORDER)
    for kind in order:
        cls = FAULTS[kind]
        if issubclass(cls, OnlyOn) and runtime not in cls.runtimes:
            left_out[kind] = f"works on the {' and '.join(sorted(cls.runtimes))} runtime only"
            continue
        if kind not in PARAMS:
            left_out[kind] = "no parameter strategy in chaos/engine/schedules.py yet"
            continue
        fields_, _ = PARAMS[kind]
        pool = [(EDGE, e) for e in edges if EDGE in fields_]
        # A service's partition cuts the edges into it: one that nothing calls
        # through an edge (e.g. a store reached through proxies alone) has none.
        called = tuple(n for n in services if any(e.target == n for e in system.edges.values()))
        eligible = with_agent if kind.startswith("http_") else called if kind == "partition" else services
        pool += [(SERVICE, s) for s in eligible if SERVICE in fields_]
        if not pool:
            left_out[kind] = "nothing in the system file to put it on"
            continue
        kinds.append(kind)
        targets[kind] = tuple(pool)
    return Catalogue(tuple(kinds), targets, {e: s.read_timeout for e, s in system.edges.items()}, left_out)


def secs(value: float) -> str:
    """3.5 -> '3.5s': how a scenario file writes a time."""
    return f"{value:g}s"


def resource(fault: Mapping[str, Any]) -> tuple[str, ...]:
    """What a fault acts on: no two faults of a schedule share one. Every
    partition counts as one resource: a service's partition cuts the edges
    into it with the same toxics an edge's partition adds."""
    if fault["kind"] == "partition":
        return ("partition",)
    return (EDGE, fault["edge"]) if "edge" in fault else (SERVICE, fault["service"])


@st.composite
def _fault(draw: Any, cat: Catalogue, profile: Profile) -> dict[str, Any]:
    kind = draw(st.sampled_from(cat.kinds))
    field_, target = draw(st.sampled_from(cat.targets[kind]))
    fault: dict[str, Any] = {"kind": kind, field_: target}
    fault.update(draw(PARAMS[kind][1](field_, target, cat)))
    steps = round(profile.latest_offset / profile.step)
    fault["at"] = secs(profile.baseline + draw(st.integers(0, steps)) * profile.step)
    # Drawn for every kind, used by all but instant ones: otherwise an instant
    # kind, with fewer choices, would be what the shrinker prefers.
    lengths = round((profile.longest - profile.shortest) / profile.step)
    length = profile.shortest + draw(st.integers(0, lengths)) * profile.step
    flap = draw(st.none() | st.tuples(st.sampled_from([1.0, 2.0]), st.sampled_from([1.0, 2.0])))
    if not issubclass(FAULTS[kind], Instant):
        fault["duration"] = secs(length)
        if flap is not None:
            fault["flap"] = {"on": secs(flap[0]), "off": secs(flap[1])}
    return fault


def schedules(cat: Catalogue, profile: Profile) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of 1 to `profile.max_faults` faults (scenario-file dicts), no two on one target."""
    return st.lists(_fault(cat, profile), min_size=1, max_size=profile.max_faults, unique_by=resource)


def _seconds(text: str) -> float:
    return float(text.rstrip("s"))


def fault_end(fault: Mapping[str, Any]) -> float:
    return _seconds(fault["at"]) + (_seconds(fault["duration"]) if "duration" in fault else 0.0)


def fault_targets(fault: Mapping[str, Any], system: System) -> frozenset[str]:
    """The services a fault makes slow or unavailable (as `Fault.targets` says, without building it)."""
    if "edge" in fault:
        return frozenset({system.edges[fault["edge"]].target})
    return frozenset({fault["service"]})


def properties(faults: list[dict[str, Any]], system: System, profile: Profile) -> list[dict[str, Any]]:
    """The checks every example is judged by, whatever its schedule: no
    acknowledged write lost or doubled; no 5xx that is not a marked fallback;
    routes that need none of the faulted services contained; and for each
    breaker in front of a faulted service, that it fails fast while open and
    closes again within its reset timeout plus `profile.recovery`."""
    checks: list[dict[str, Any]] = [{"kind": "containment"}, {"kind": "no_unmarked_5xx"}]
    if any(r.write is not None for r in system.routes.values()):
        checks.append({"kind": "writes_durable"})
    hit = frozenset().union(*(fault_targets(f, system) for f in faults))
    for name, edge in system.breakers.items():
        if edge.target in hit:
            checks.append({"kind": "fails_fast", "breaker": name, "open_only": True})
            checks.append({"kind": "breaker_recovers", "breaker": name, "within": secs(profile.recovery)})
    return checks


def scenario_data(faults: list[dict[str, Any]], system: System, profile: Profile, name: str, description: str,
                  checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One example as scenario-file data: load, the faults, the properties as
    checks (or `checks`), a duration that leaves the tail after the last
    fault, and the system file's `explore.env` for every service that holds
    a breaker (so the written scenario replays with the same settings)."""
    end = max(fault_end(f) for f in faults) + profile.tail
    duration = math.ceil(end / profile.step) * profile.step
    owners = sorted(system.breaker_owners()) if system.spec.explore.env else []
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "duration": secs(duration),
        "seed": 1,
        "load": {"rate": profile.rate},
        "faults": [dict(f) for f in faults],
        "checks": checks if checks is not None else properties(faults, system, profile),
    }
    if owners:
        data["system"] = {"services": {o: {"env": dict(system.spec.explore.env)} for o in owners}}
    return data


def describe(faults: list[dict[str, Any]]) -> str:
    """One line: 'latency 3000 on gateway->orders at 3s for 4.5s (flap 1s/2s); kill inventory at 4s for 2s'."""
    parts = []
    for f in faults:
        params = " ".join(str(v) for k, v in f.items() if k not in ("kind", "edge", "service", "at", "duration", "flap"))
        text = f"{f['kind']}{' ' + params if params else ''} on {f.get('edge') or f.get('service')} at {f['at']}"
        if "duration" in f:
            text += f" for {f['duration']}"
        if "flap" in f:
            text += f" (flap {f['flap']['on']}/{f['flap']['off']})"
        parts.append(text)
    return "; ".join(parts)


def overlaps(faults: list[dict[str, Any]]) -> bool:
    """Whether two faults of the schedule are active at once (by their outer windows)."""
    spans = sorted((_seconds(f["at"]), fault_end(f)) for f in faults)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
