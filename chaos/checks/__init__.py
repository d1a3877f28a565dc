"""Checks: pure functions of a run's history that say pass, fail or unknown.

Each check kind is one module that defines a `Check` subclass with
`kind: Literal["name"]`, registered with `@register`. A check reads the
history only; it never acts. One that crashes is reported "unknown" with the
reason: a broken check must never pass silently.

A check whose verdict rests on the latency or success rates the load saw is
also a `JudgesLoad`; when the load generator did not deliver what was asked
(see `chaos.history.queries.not_delivered`), such a check cannot tell the
system's slowness from the generator's, so `evaluate_all` says unknown.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from chaos.history import History
from chaos.history.queries import not_delivered
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


class Check(Model):
    kind: str

    def title(self) -> str:
        """A short name for this check as configured, e.g. 'breaker gateway->orders opens'."""
        raise NotImplementedError

    def check_refs(self, system: System) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems with names this spec refers to: (field path, message) pairs."""
        return []

    def evaluate(self, history: History, system: System) -> Verdict:
        raise NotImplementedError

    def verdict(self, status: Status, evidence: str, **figures: Any) -> Verdict:
        return Verdict(self.title(), status, evidence, figures)


class JudgesLoad:
    """Marker for a check that judges latency or success rates of the load's
    requests: its verdict is unknown when the load was not delivered."""

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


def evaluate_all(checks: list[Check], history: History, system: System) -> list[Verdict]:
    """Every check's verdict; a check that raises is 'unknown', with the reason.
    So is every `JudgesLoad` check when the load was not delivered: then its
    evidence starts with why, and says what it would have been."""
    undelivered = not_delivered(history)
    verdicts = []
    for check in checks:
        try:
            verdict = check.evaluate(history, system)
        except Exception as e:  # noqa: BLE001 - a crash must become a verdict, not a pass
            verdict = Verdict(_safe_title(check), "unknown", f"the check crashed: {type(e).__name__}: {e}")
        if undelivered and isinstance(check, JudgesLoad):
            verdict = Verdict(verdict.check, "unknown", f"{undelivered} (otherwise {verdict.status}: {verdict.evidence})",
                              {**verdict.figures, "otherwise": verdict.status})
        verdicts.append(verdict)
    return verdicts


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
