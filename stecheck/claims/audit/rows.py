"""Audit rows and the rules that turn numbers into verdicts (pure: no I/O).

A :class:`Case` is one number behind a verdict (a value with its standard error or exact value, against
the value the argument claims) and whether it agrees with the claim; an :class:`AuditRow` is one step of
the argument with its cases and the verdict computed from them:

- a step **holds** when every case passes, **fails** when none does, **holds-only-if** when some do
  (:func:`verdict_all`); an implication fails on one counterexample (:func:`verdict_implication`);
- an estimate agrees with a claim when ``abs(estimate - target) <= z SE`` (:func:`within`).

A case whose outcome is fixed in advance (a tautology such as ``E[D_h] = 1`` at ``L h = 1``, a prediction
below what can be resolved, an input outside an implication's premise) is kept for the record with
``counted=False``: it is shown, but neither the verdict nor the decisive case depends on it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Iterable, Literal, Sequence

import numpy as np

from stecheck.errors import ConfigError
from stecheck.records import Record

__all__ = [
    "AUDIT_FIELDS",
    "VERDICTS",
    "ZERO_TOL",
    "UNIFORM_TOL",
    "Verdict",
    "Case",
    "AuditRow",
    "RecordIndex",
    "verdict_all",
    "verdict_implication",
    "within",
    "bits_text",
    "where_text",
    "conditional",
    "pm_text",
]

Verdict = Literal["holds", "fails", "holds-only-if"]
VERDICTS: Final = ("holds", "fails", "holds-only-if")

#: Columns of an audit record, in order.
AUDIT_FIELDS: Final = (
    "step",
    "claim",
    "verdict",
    "condition",
    "evidence",
    "rule",
    "quantity",
    "input",
    "k",
    "h",
    "value",
    "se",
    "exact",
    "target",
    "cases",
)

#: An exact value counts as zero below this (exact references are accurate to about 1e-10).
ZERO_TOL: Final = 1e-9
#: Tolerance for "n is uniform" (max_l abs(phi(2 pi l))) and for "E[D_h] = 1" from exact values.
UNIFORM_TOL: Final = 1e-6


@dataclass(frozen=True)
class Case:
    """One number behind a verdict: ``value`` (with ``se`` for an estimate) against the claimed ``target``."""

    label: str
    k: int
    value: float
    target: float
    passed: bool
    se: float | None = None
    exact: float | None = None
    h: float | None = None
    note: str = ""
    counted: bool = True

    def deviation(self) -> float:
        """``abs(value - target)`` in standard errors (in absolute terms for exact values)."""
        gap = abs(self.value - self.target)
        if self.se is not None and self.se > 0:
            return gap / self.se
        return math.inf if gap > ZERO_TOL else gap

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numpy scalars as Python numbers; an empty note and ``counted=True`` left out)."""
        return {k: _plain(v) for k, v in asdict(self).items() if not (k == "note" and not v) and not (k == "counted" and v)}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class AuditRow:
    """A step of the argument (or a positive result) with its computed verdict."""

    step: str
    claim: str
    verdict: Verdict
    condition: str
    evidence: str
    rule: str
    quantity: str
    cases: tuple[Case, ...]

    def counted_cases(self) -> tuple[Case, ...]:
        """The cases the verdict is computed from (``counted``); all cases when none is."""
        return tuple(c for c in self.cases if c.counted) or self.cases

    def headline(self) -> Case:
        """The decisive case: the most deviant failing counted case if any, else the most deviant counted case."""
        cases = self.counted_cases()
        failing = [c for c in cases if not c.passed]
        return max(failing or cases, key=Case.deviation)

    def record(self) -> Record:
        """The row as a record with :data:`AUDIT_FIELDS`."""
        top = self.headline()
        return {
            "step": self.step,
            "claim": self.claim,
            "verdict": self.verdict,
            "condition": self.condition,
            "evidence": self.evidence,
            "rule": self.rule,
            "quantity": self.quantity,
            "input": top.label,
            "k": top.k,
            "h": top.h,
            "value": _plain(top.value),
            "se": _plain(top.se),
            "exact": _plain(top.exact),
            "target": _plain(top.target),
            "cases": [c.as_dict() for c in self.cases],
        }


def verdict_all(cases: Sequence[Case]) -> Verdict:
    """``holds`` if every counted case passes, ``fails`` if none does, ``holds-only-if`` otherwise."""
    cases = [c for c in cases if c.counted]
    if not cases:
        raise ConfigError("a step needs at least one case to be judged")
    passed = [c.passed for c in cases]
    if all(passed):
        return "holds"
    return "holds-only-if" if any(passed) else "fails"


def verdict_implication(cases: Sequence[Case]) -> Verdict:
    """An implication over the (counted) cases satisfying its premise: one counterexample refutes it."""
    cases = [c for c in cases if c.counted]
    if not cases:
        raise ConfigError("no case satisfies the premise of the implication: nothing to judge")
    return "holds" if all(c.passed for c in cases) else "fails"


def within(value: float, target: float, se: float | None, z: float, tol: float = ZERO_TOL) -> bool:
    """``abs(value - target) <= z se`` (with a floating-point floor ``tol`` for a zero standard error)."""
    return abs(value - target) <= max(z * (se or 0.0), tol)


def bits_text(ks: Iterable[int]) -> str:
    """Bit widths as runs: ``1-3,5`` for {1, 2, 3, 5}."""
    runs: list[list[int]] = []
    for k in sorted(set(ks)):
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def where_text(cases: Iterable[Case]) -> str:
    """``label k=1-3; label2 k=2`` (cases grouped by label)."""
    groups: dict[str, list[int]] = {}
    for c in cases:
        groups.setdefault(c.label, []).append(c.k)
    return "; ".join(f"{label} k={bits_text(ks)}" for label, ks in groups.items())


def conditional(general: str, cases: Sequence[Case], verdict: Verdict) -> str:
    """The condition text: ``general``, and for holds-only-if where the step holds and where it fails."""
    if verdict != "holds-only-if":
        return general
    good = where_text(c for c in cases if c.counted and c.passed)
    bad = where_text(c for c in cases if c.counted and not c.passed)
    return f"{general} Here it holds for {good}; it fails for {bad}."


def pm_text(value: float, se: float | None, exact: float | None = None) -> str:
    """``value ± se (exact x)`` in compact form."""
    text = f"{value:.4g}" if se is None else f"{value:.4g} ± {se:.2g}"
    return text if exact is None else f"{text} (exact {exact:.4g})"


class RecordIndex(dict):  # type: ignore[type-arg]
    """Engine records by ``(dist, k, h)`` (deterministic, forward) or ``(dist, k, h, rounding, fd)``."""

    samples: int = 0

    @classmethod
    def of(cls, records: Iterable[Record], samples: int) -> RecordIndex:
        index = cls()
        index.samples = samples
        for rec in records:
            index[(rec["dist"], rec["k"], rec["h"], rec["rounding"], rec["fd"])] = rec
            if rec["rounding"] == "half-even" and rec["fd"] == "forward":
                index[(rec["dist"], rec["k"], rec["h"])] = rec
        return index
