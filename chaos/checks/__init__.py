"""Checks: pure functions of a run's history that say pass, fail or unknown.

Each check kind is one module that defines a `Check` subclass with
`kind: Literal["name"]`, registered with `@register`. A check reads the
history only; it never acts. One that crashes is reported "unknown" with the
reason: a broken check must never pass silently.

A check also says what it needs to see, in two steps, so that a check that
is blind says "unknown" with the reason instead of judging what it never saw:

- `blind_spots(system, mix)`: what this system file cannot show it (a breaker
  in a service without the agent, fallbacks nobody marks, no write route in
  the load). Known before anything starts: `validate`, `--dry-run` and `run`
  warn about them.
- `unseen(history, system)`: what the run did not show it (an agent that
  did not answer, a breaker its agent does not watch).

A check whose verdict rests on the latency or success rates the load saw is
also a `JudgesLoad`; when the load generator did not deliver what was asked
(see `chaos.history.queries.not_delivered`), such a check cannot tell the
system's slowness from the generator's, so `evaluate_all` says unknown.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from chaos.history import History
from chaos.history.queries import NOT_DELIVERED, not_delivered
from chaos.spec.model import Model
from chaos.spec.system import System

Status = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """A check's answer and the evidence for it, in words and in figures."""

    check: str  # the check's title
    status: Status
    evidence: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def tally(verdicts: list[Verdict]) -> str:
    """The closing count of a verdict table: '3 passed, 1 failed', plus
    ', 2 unknown' when some could not tell (they are not failures, nor passes)."""
    counts = {status: sum(v.status == status for v in verdicts) for status in ("pass", "fail", "unknown")}
    unknown = f", {counts['unknown']} unknown" if counts["unknown"] else ""
    return f"{counts['pass']} passed, {counts['fail']} failed{unknown}"


def outcome(verdicts: list[Verdict]) -> str:
    """A run's word: PASSED (every check passed), FAILED (one failed), else
    UNKNOWN (none failed, some could not tell: still not a pass)."""
    if all(v.passed for v in verdicts):
        return "PASSED"
    return "FAILED" if any(v.status == "fail" for v in verdicts) else "UNKNOWN"


class Check(Model):
    kind: str

    def title(self) -> str:
        """A short name for this check as configured, e.g. 'breaker gateway->orders opens'."""
        raise NotImplementedError

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems with names this spec refers to: (field path, message) pairs."""
        return []

    def blind_spots(self, system: System, mix: Mapping[str, int]) -> list[str]:
        """Why this check cannot be judged on `system` with this load `mix`
        (route -> weight): one reason each; none when it can."""
        return []

    def unseen(self, history: History, system: System) -> str | None:
        """Why the run did not show this check what it judges, or None."""
        return None

    def evaluate(self, history: History, system: System) -> Verdict:
        raise NotImplementedError

    def verdict(self, status: Status, evidence: str, **figures: Any) -> Verdict:
        return Verdict(self.title(), status, evidence, figures)


class JudgesLoad:
    """Marker for a check that judges latency or success rates of the load's
    requests: its verdict is unknown when the load was not delivered."""

    __slots__ = ()


class LoadCanFail:
    """Marker for a check of the service's own breaker transitions whose FAIL
    the load's shortfall can cause: an overloaded system times out the trial
    calls that would close a breaker, or opens one the fault alone would not.
    When the load was not delivered its fail is unknown, with the reason and
    what it would have been; a pass stands, since what it saw happened
    whatever the load. (A system not steady before the first fault does not
    gate it: a breaker that opens on a healthy downstream is what
    breaker_stays_closed is there to catch.)

    Found with order-down at 1000 req/s: the overload reopened the breakers
    after the fault, and breaker_recovers failed a breaker that recovers at
    any rate the machine can serve."""

    __slots__ = ()


def unknown_routes(routes: list[str] | None, system: System) -> list[tuple[tuple[str | int, ...], str]]:
    """check_refs for a check's list of route names: one problem per unknown route."""
    known = ", ".join(system.routes)
    return [(("routes", i), f"unknown route '{r}' (known: {known})") for i, r in enumerate(routes or []) if r not in system.routes]


CHECKS: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make a check kind known by its `kind` literal."""
    CHECKS[cls.model_fields["kind"].annotation.__args__[0]] = cls
    return cls


def check_union() -> Any:
    """The type of one check entry in a scenario file: a union tagged by `kind`."""
    return Annotated[Union[tuple(CHECKS.values())], Field(discriminator="kind")]  # type: ignore[valid-type]


def evaluate_all(checks: list[Check], history: History, system: System, mix: Mapping[str, int] | None = None) -> list[Verdict]:
    """Every check's verdict. A check that is blind on this system, or was
    not shown what it judges, is 'unknown' with the reason; so is one that
    raises. So is every `JudgesLoad` check when the load was not delivered,
    or when a steady_state check found the system outside its steady state
    before the first fault; and every failed `LoadCanFail` check when the
    load was not delivered. The evidence of each starts with why, and says
    what it would have been."""
    mix = mix if mix is not None else {r: 1 for r in system.routes}
    judged: list[tuple[Verdict, str | None]] = []  # each verdict, and what gates it: "load", "fail" or nothing
    for check in checks:
        try:
            blind = check.blind_spots(system, mix)
            if blind:
                judged.append((check.verdict("unknown", "cannot be judged on this system: " + "; ".join(blind)), None))
                continue
            unseen = check.unseen(history, system)
            if unseen:
                judged.append((check.verdict("unknown", unseen), None))
                continue
            verdict = check.evaluate(history, system)
        except Exception as e:  # noqa: BLE001 - a crash must become a verdict, not a pass
            verdict = Verdict(_safe_title(check), "unknown", f"the check crashed: {type(e).__name__}: {e}")
        gate = "load" if isinstance(check, JudgesLoad) else "fail" if isinstance(check, LoadCanFail) and verdict.status == "fail" else None
        judged.append((verdict, gate))
    undelivered = not_delivered(history)
    # A steady_state verdict says whether the system was steady before the
    # first fault (chaos.checks.steady_state); it is not gated by itself.
    unsteady = next((why for v, _ in judged if (why := _unsteady(v))), None)
    verdicts = []
    for verdict, gate in judged:
        if gate == "load":
            why = undelivered or (unsteady if "steady_before" not in verdict.figures else None)
        else:
            why = undelivered if gate == "fail" else None
        if why:
            verdict = Verdict(verdict.check, "unknown", f"{why} (otherwise {verdict.status}: {verdict.evidence})",
                              {**verdict.figures, "otherwise": verdict.status})
        verdicts.append(verdict)
    return verdicts


def not_judged(exit_code: int, verdicts: Iterable[Mapping[str, Any]]) -> str | None:
    """Why a run that did not pass judged nothing, or None when it judged:
    it exited 1, no check failed, and a check is unknown because the load was
    not delivered (its evidence, returned). The machine fell behind, not the
    system: run again, it can be judged. `verdicts` as verdicts.json holds them."""
    verdicts = list(verdicts)
    if exit_code != 1 or any(v["status"] == "fail" for v in verdicts):
        return None
    return next((v["evidence"] for v in verdicts if v["status"] == "unknown" and v.get("evidence", "").startswith(NOT_DELIVERED)),
                None)


def _unsteady(verdict: Verdict) -> str | None:
    """Why the run's load cannot be judged, when `verdict` is a steady_state
    check's that found the system outside its steady state before the first
    fault (its evidence up to the time after), else None."""
    if verdict.figures.get("steady_before") is False:
        return verdict.evidence.rsplit("; after: ", 1)[0]
    return None


def blind_routes(routes: list[str], system: System) -> list[str]:
    """blind_spots of a check that tells fallbacks from full answers on `routes`."""
    blind = [r for r in routes if not system.fallback_visible(r)]
    if not blind:
        return []
    entry = system.spec.entrypoint
    return [f"fallback answers on {', '.join(blind)} cannot be told from full ones: {entry} declares no agent "
            f"(which marks them) and no fallback: rule says how they look (see docs/system-file.md)"]


def _safe_title(check: Check) -> str:
    try:
        return check.title()
    except Exception:  # noqa: BLE001
        return check.kind


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_load_all()
