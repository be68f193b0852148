"""The argument "Lemma Two" (tensorpack issue #31) checked step by step: pure logic, no I/O.

Every step of the argument becomes one :class:`AuditRow`: the claim in plain words, the numbers
computed for it on the spot (one :class:`Case` per input, bit width, point or step size), and a verdict
*derived from those numbers* by a stated rule -- never written down in advance:

- a case passes when its value agrees with the step's claim: a Monte Carlo estimate within ``z``
  standard errors of the claimed value (``abs(estimate - target) <= z SE``, z = 5), an exact or
  algebraic value within a floating-point tolerance;
- a step **holds** when every case passes, **fails** when none does, and **holds-only-if** when some do
  (the condition then names where it holds). Step (9) is an implication, so one counterexample
  among the inputs satisfying its premise makes it fail.

Positive rows state what is true instead (THEORY.md): identity A, ``E[D_h] = F_n(L h - 1/2) / (L h)``
with ``E[D_h] = 1`` for every ``h <= Delta`` iff n is uniform; stochastic rounding and uniform dither,
``d/dr E[q(r)] = 1`` at every r; and the Fourier prediction of ``E[D_h] - 1`` for smooth inputs.

All random numbers derive from one root seed: the Monte Carlo numbers through :func:`stecheck.engine.run`
(streams keyed by seed, input and chunk), the algebraic checks of steps 1-7 through
``SeedSequence(seed, spawn_key=(ALGEBRA_STREAM, step))``. So an audit is reproducible from its seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Final, Iterable, Literal, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from stecheck.config import RunConfig, parse_bits, parse_seed
from stecheck.distributions import Atom, Continuous, InputSpec, format_number, parse_input
from stecheck.engine import run, total_samples
from stecheck.errors import ConfigError
from stecheck.exact import exact_cdf_n
from stecheck.quantize import levels, quantize, round_scaled, rounding_error
from stecheck.records import Record, provenance

__all__ = [
    "AUDIT_FIELDS",
    "VERDICTS",
    "AuditConfig",
    "AuditResult",
    "AuditRow",
    "Case",
    "audit",
    "fourier_mean_fd",
    "normal_or_logistic_phi",
    "verdict_all",
    "verdict_implication",
    "weights_conclusion_row",
    "weights_mean_zero_row",
]

Verdict = Literal["holds", "fails", "holds-only-if"]
VERDICTS: Final = ("holds", "fails", "holds-only-if")
Progress = Callable[[int], None]

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

#: Draws of r ~ Uniform[0, 1] for the algebraic steps (1-7): exact checks, not estimates.
ALGEBRA_SAMPLES: Final = 1 << 16
#: Spawn-key prefix of the algebraic steps' streams (distinct from every engine stream key layout).
ALGEBRA_STREAM: Final = 0xA0D17
#: An exact value counts as zero below this (exact references are accurate to about 1e-10).
ZERO_TOL: Final = 1e-9
#: Tolerance for "n is uniform" (max_l abs(phi(2 pi l))) and for "E[D_h] = 1" from exact values.
UNIFORM_TOL: Final = 1e-6
#: Steps, in units of Delta (a = L h), at which identity A is shown.
IDENTITY_GRID: Final = (0.1, 0.25, 0.5, 0.75, 1.0)


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class AuditConfig:
    """What the audit evaluates. Every field is an input the verdicts are computed from.

    Attributes
    ----------
    bits : tuple of int or str
        Bit widths (as ``--bits``: ``1-4``, ``2``, ``1,3``).
    samples : int
        Monte Carlo samples per input.
    seed : int, optional
        Root seed; fresh OS entropy (recorded) when None.
    h : float
        Finite-difference step of steps 9, SR, DITHER and F.
    inputs : tuple of str
        Input specs of steps 8, 8', 9 and identity A (unclipped, deterministic rounding).
    smooth_inputs : tuple of str
        Normal or logistic inputs of the Fourier row.
    points : tuple of float
        Points r at which stochastic rounding and dither are differentiated.
    randomized : tuple of str
        The roundings of the positive rows (``stochastic``, ``dither``).
    orders : int
        Terms of the Fourier series of the prediction.
    z : float
        Standard errors allowed between an estimate and its target.
    """

    bits: tuple[int | str, ...] = ("1-4",)
    samples: int = 1_000_000
    seed: int | None = None
    h: float = 1e-3
    inputs: tuple[str, ...] = ("uniform(0,1)", "normal(0.5,0.15)", "normal(0.3,0.1)", "onlevel(0.4)", "onthreshold(0.1)")
    smooth_inputs: tuple[str, ...] = ("normal(0.5,0.15)", "normal(0.3,0.1)", "logistic(0.4,0.05)")
    points: tuple[float, ...] = (0.0, 0.5, 0.3)
    randomized: tuple[str, ...] = ("stochastic", "dither")
    orders: int = 64
    z: float = 5.0

    def validated(self) -> AuditConfig:
        """This config with canonical values, or :class:`ConfigError` / :class:`SpecError`."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples <= 0:
            raise ConfigError(f"sample count {self.samples!r} must be a positive integer")
        if not (isinstance(self.h, (int, float)) and math.isfinite(self.h) and self.h > 0):
            raise ConfigError(f"step size h={self.h!r} must be a finite number > 0")
        if not (math.isfinite(self.z) and self.z > 0):
            raise ConfigError(f"z={self.z!r} must be a finite number > 0")
        if isinstance(self.orders, bool) or not isinstance(self.orders, int) or self.orders < 1:
            raise ConfigError(f"Fourier orders {self.orders!r} must be a positive integer")
        if not self.inputs or not self.smooth_inputs or not self.points or not self.randomized:
            raise ConfigError("the audit needs at least one input, one smooth input, one point and one rounding")
        inputs = tuple(dict.fromkeys(parse_input(s).spec for s in self.inputs))
        smooth = tuple(dict.fromkeys(parse_input(s).spec for s in self.smooth_inputs))
        for spec in inputs + smooth:
            if parse_input(spec).path != "none":
                raise ConfigError(f"audit input {spec!r}: the argument is about the unclipped quantizer; no clip/dorefa")
        return replace(
            self, bits=parse_bits(self.bits), seed=parse_seed(self.seed), h=float(self.h),
            inputs=inputs, smooth_inputs=smooth, points=tuple(float(p) for p in self.points),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for provenance (seed as text: JSON readers lose integers above 2^53)."""
        data = asdict(self)
        data["seed"] = None if self.seed is None else str(self.seed)
        return data


# ---------------------------------------------------------------- rows and verdicts


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

    def deviation(self) -> float:
        """``abs(value - target)`` in standard errors (in absolute terms for exact values)."""
        gap = abs(self.value - self.target)
        if self.se is not None and self.se > 0:
            return gap / self.se
        return math.inf if gap > ZERO_TOL else gap

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numpy scalars as Python numbers; an empty note left out)."""
        return {k: _plain(v) for k, v in asdict(self).items() if not (k == "note" and not v)}


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

    def headline(self) -> Case:
        """The decisive case: the most deviant failing case if any, else the most deviant case."""
        failing = [c for c in self.cases if not c.passed]
        return max(failing or self.cases, key=Case.deviation)

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
    """``holds`` if every case passes, ``fails`` if none does, ``holds-only-if`` otherwise."""
    if not cases:
        raise ConfigError("a step needs at least one case to be judged")
    passed = [c.passed for c in cases]
    if all(passed):
        return "holds"
    return "holds-only-if" if any(passed) else "fails"


def verdict_implication(cases: Sequence[Case]) -> Verdict:
    """An implication over the cases satisfying its premise: one counterexample refutes it."""
    if not cases:
        raise ConfigError("no case satisfies the premise of the implication: nothing to judge")
    return "holds" if all(c.passed for c in cases) else "fails"


def within(value: float, target: float, se: float | None, z: float, tol: float = ZERO_TOL) -> bool:
    """``abs(value - target) <= z se`` (with a floating-point floor ``tol`` for a zero standard error)."""
    return abs(value - target) <= max(z * (se or 0.0), tol)


def _bits_text(ks: Iterable[int]) -> str:
    ks = sorted(set(ks))
    runs: list[str] = []
    start = prev = ks[0]
    for k in ks[1:] + [None]:  # type: ignore[list-item]
        if k is not None and k == prev + 1:
            prev = k
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if k is not None:
            start = prev = k
    return ",".join(runs)


def _where(cases: Iterable[Case]) -> str:
    """``label k=1-3; label2 k=2`` (cases grouped by label)."""
    groups: dict[str, list[int]] = {}
    for c in cases:
        groups.setdefault(c.label, []).append(c.k)
    return "; ".join(f"{label} k={_bits_text(ks)}" for label, ks in groups.items())


def _condition(general: str, cases: Sequence[Case], verdict: Verdict) -> str:
    if verdict != "holds-only-if":
        return general
    good = _where(c for c in cases if c.passed)
    bad = _where(c for c in cases if not c.passed)
    return f"{general} Here it holds for {good}; it fails for {bad}."


def _pm(value: float, se: float | None, exact: float | None = None) -> str:
    text = f"{value:.4g}" if se is None else f"{value:.4g} ± {se:.2g}"
    return text if exact is None else f"{text} (exact {exact:.4g})"


# ---------------------------------------------------------------- steps 1-7: the algebra


def _algebra_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(ALGEBRA_STREAM, step))))


def _uniform_r(seed: int, step: int) -> NDArray[np.float64]:
    return _algebra_rng(seed, step).random(ALGEBRA_SAMPLES)


def step_definition(bits: Sequence[int], seed: int) -> AuditRow:
    """(1) ``quantize_k(r) = round(L r)/L`` maps [0, 1] onto the ``2^k`` levels ``j / L``."""
    cases = []
    for k in bits:
        scale = levels(k)
        r = np.concatenate([np.linspace(0.0, 1.0, 4 * scale + 1), _uniform_r(seed, 1)])
        q = quantize(r, k)
        off_grid = float(np.max(np.abs(scale * q - np.rint(scale * q))))
        count = np.unique(np.rint(scale * q)).size
        ok = count == scale + 1 and off_grid <= ZERO_TOL and q.min() == 0.0 and q.max() == 1.0
        cases.append(Case(f"r in [0,1] ({r.size:,} points)", k, float(count), float(scale + 1), bool(ok), exact=float(scale + 1),
                          note=f"max distance of L q(r) from an integer {off_grid:.2g}"))
    verdict = verdict_all(cases)
    return AuditRow(
        "1", "quantize_k(r) = round((2^k - 1) r) / (2^k - 1) maps [0, 1] onto the 2^k levels j / (2^k - 1).",
        verdict, _condition("For every k.", cases, verdict),
        "Distinct values of quantize_k on a grid and uniform draws of [0, 1]: "
        + "; ".join(f"k={c.k}: {int(c.value)} levels (2^k = {int(c.target)})" for c in cases) + ".",
        "holds when the number of distinct values is 2^k and every value is a multiple of 1/L.",
        "number of distinct quantized values", tuple(cases),
    )


def step_cancel(bits: Sequence[int], seed: int) -> AuditRow:
    """(2) Without round(), ``(1/L)(L r) = r``: the scale factors cancel (up to floating point)."""
    r = _uniform_r(seed, 2)
    cases = []
    for k in bits:
        scale = levels(k)
        gap = float(np.max(np.abs((scale * r) / scale - r)))
        cases.append(Case("r ~ Uniform[0,1]", k, gap, 0.0, gap <= 4 * np.finfo(float).eps, exact=0.0))
    verdict = verdict_all(cases)
    return AuditRow(
        "2", "Without round(), ~quantize_k(r) = (1/(2^k-1)) ((2^k-1) r) = r.",
        verdict, _condition("For every k (an identity of real arithmetic).", cases, verdict),
        f"max abs((L r)/L - r) over {ALGEBRA_SAMPLES:,} draws: "
        + "; ".join(f"k={c.k}: {c.value:.2g}" for c in cases) + ".",
        "holds when max abs((L r)/L - r) <= 4 machine epsilons.",
        "max abs(~q(r) - r)", tuple(cases),
    )


def step_identity_slope(bits: Sequence[int], seed: int, h: float = 1e-6) -> AuditRow:
    """(3) ``~q'(r) = 1``: central differences of ``(L r)/L`` equal 1 up to rounding noise ``~eps/h``."""
    r = _uniform_r(seed, 3)
    cases = []
    for k in bits:
        scale = levels(k)
        slope = ((scale * (r + h / 2)) / scale - (scale * (r - h / 2)) / scale) / h
        gap = float(np.max(np.abs(slope - 1.0)))
        cases.append(Case("r ~ Uniform[0,1]", k, 1.0 + gap, 1.0, gap <= 1e-6, exact=1.0, h=h))
    verdict = verdict_all(cases)
    return AuditRow(
        "3", "The derivative of ~quantize_k is 1.",
        verdict, _condition("For every k.", cases, verdict),
        f"Central differences of (L r)/L with h = {h:g} at {ALGEBRA_SAMPLES:,} draws: max abs(D_h - 1) = "
        + "; ".join(f"k={c.k}: {c.value - 1:.2g}" for c in cases) + ".",
        "holds when max abs(D_h - 1) <= 1e-6 (floating-point noise is about 1e-16 / h).",
        "1 + max abs(D_h(~q) - 1)", tuple(cases),
    )


def step_round_question(bits: Sequence[int], seed: int, positive: Sequence[AuditRow], z: float) -> AuditRow:
    """(4) Can round() be made to disappear? Measured: for deterministic rounding ``q' = 0`` almost
    everywhere, so only randomness inside the quantizer (rows SR, DITHER) makes it disappear in expectation.
    """
    r = _uniform_r(seed, 4)
    cases = []
    for k in bits:
        scale = levels(k)
        h = 1e-6 / scale
        flat = (quantize(r + h, k) == quantize(r, k)) & (quantize(r - h, k) == quantize(r, k))
        p = float(np.mean(flat))
        exact = 1.0 - 2.0 * scale * h  # r uniform: a threshold lies within h on either side with prob. 2 L h
        se = math.sqrt(exact * (1.0 - exact) / r.size)
        steep = int(r.size - np.count_nonzero(flat))
        consistent = stats.binomtest(steep, r.size, 1.0 - exact).pvalue >= 2.0 * stats.norm.sf(z)
        cases.append(Case("r ~ Uniform[0,1]", k, p, exact, bool(consistent), se=se, exact=exact, h=h,
                          note=f"P(D_h = 0 on both sides); {steep} of {r.size:,} draws see a jump"))
    zero_slope = all(c.passed for c in cases)
    randomized = [row for row in positive if row.step in ("SR", "DITHER")]
    vanish = [row.step for row in randomized if row.verdict == "holds"]
    if not zero_slope:
        verdict: Verdict = "holds"
    else:
        verdict = "holds-only-if" if vanish else "fails"
    rows_text = ", ".join(f"{row.step}: {row.verdict}" for row in randomized)
    return AuditRow(
        "4", "In the absence of round() the scale factors cancel and the derivative is 1; round() can be made "
        "to disappear in some justified fashion.",
        verdict,
        "Only in expectation over randomness inside the quantizer (stochastic rounding or uniform dither, rows "
        "SR and DITHER); deterministic round() never disappears: quantize_k' = 0 wherever it exists."
        if verdict == "holds-only-if" else "Deterministic round() has derivative 0 almost everywhere.",
        "Deterministic rounding: fraction of r ~ Uniform[0,1] with D_h = 0 on both sides at h = 1e-6 Delta: "
        + "; ".join(f"k={c.k}: {c.value:.6g} (exact {c.exact:.6g})" for c in cases)
        + f", so quantize_k' = 0 off the thresholds. Randomised rounding rows: {rows_text}.",
        "holds-only-if when q' = 0 almost everywhere (the draws seeing a jump are consistent with Binomial(N, 2 L h): "
        "two-sided binomial test p >= the z-level) and a randomised "
        "rounding row holds; fails when q' = 0 and none holds; holds when q' = 0 is not confirmed.",
        "P(D_h = 0 on both sides), deterministic rounding", tuple(cases),
    )


def step_adds_n(bits: Sequence[int], seed: int) -> AuditRow:
    """(5) "round adds n in [-1/2, 1/2] to r": in quantize_k it adds n to ``L r``, i.e. ``n / L`` to r."""
    r = _uniform_r(seed, 5)
    cases = []
    for k in bits:
        n = rounding_error(r, k)
        added = quantize(r, k) - r
        ratio = float(np.max(np.abs(added)) / np.max(np.abs(n)))
        truth = float(np.max(np.abs(added - n / levels(k))))
        cases.append(Case("r ~ Uniform[0,1]", k, ratio, 1.0, abs(ratio - 1.0) <= ZERO_TOL, exact=1.0 / levels(k),
                          note=f"max abs(q(r) - r - n/L) = {truth:.2g}"))
    verdict = verdict_all(cases)
    return AuditRow(
        "5", "round() adds a number n in [-0.5, 0.5] to r (so quantize_k(r) = r + n).",
        verdict, _condition("Only where L = 1: round adds n to L r, i.e. n/L to r.", cases, verdict),
        "max abs(q(r) - r) / max abs(n) over uniform draws: "
        + "; ".join(f"k={c.k}: {c.value:.4g} (1/L = {c.exact:.4g})" for c in cases)
        + "; q(r) = r + n/L to rounding error in every case.",
        "a case holds when max abs(q(r) - r) / max abs(n) = 1 (within 1e-9); it is 1/L when round adds n/L.",
        "max abs(q(r) - r) / max abs(n)", tuple(cases),
    )


def step_zero_error_slope(bits: Sequence[int], steps: Sequence[float] = (1e-1, 1e-3, 1e-6)) -> AuditRow:
    """(6) "If n = 0 then quantize_k' = 1": finite differences on both sides of every level ``j / L``."""
    cases = []
    for k in bits:
        scale = levels(k)
        r = np.arange(scale + 1) / scale
        n = float(np.max(np.abs(rounding_error(r, k))))
        slopes = []
        for a in steps:
            h = a / scale
            q = quantize(r, k)
            slopes += [(quantize(r + h, k) - q) / h, (q - quantize(r - h, k)) / h]
        worst = float(np.max(np.abs(np.concatenate(slopes))))
        cases.append(Case(f"the {scale + 1} levels j/L", k, worst, 1.0, abs(worst - 1.0) <= 1e-9, exact=0.0,
                          note=f"max abs(n) at the levels {n:.2g}; h = {', '.join(f'{a:g}' for a in steps)} Delta"))
    verdict = verdict_all(cases)
    return AuditRow(
        "6", "If n = 0, then quantize_k'(r) = ~quantize_k'(r) = 1.",
        verdict, _condition("Nowhere: at n = 0 (r on a level) quantize_k is flat on both sides.", cases, verdict),
        "Forward and backward differences at every level j/L (where n = 0) with h = "
        + ", ".join(f"{a:g}" for a in steps) + " Delta: max abs(D_h) = "
        + "; ".join(f"k={c.k}: {c.value:.3g}" for c in cases) + " (the claim needs 1).",
        "a case holds when every one-sided difference at the levels equals 1 (within 1e-9).",
        "max abs(D_h) at levels (both sides)", tuple(cases),
    )


def step_scale_factors(bits: Sequence[int], seed: int, eps: float = 1e-7) -> AuditRow:
    """(7) "For n != 0, quantize_k(r) = (1/L) L (r + n)": measured against the truth ``q = r + n/L``,
    and ``dn/ds = -1`` off the thresholds, so ``q' = 1 + (1/L) dn/dr = 0``.
    """
    r = _uniform_r(seed, 7)
    cases = []
    slopes = []
    for k in bits:
        scale = levels(k)
        n = rounding_error(r, k)
        q = quantize(r, k)
        gap = float(np.max(np.abs(q - (r + n))))
        s = scale * r
        dn = (round_scaled(s + eps) - (s + eps) - (round_scaled(s) - s)) / eps
        slope = float(np.median(dn))
        slopes.append(f"{slope:.6g}")
        cases.append(Case("r ~ Uniform[0,1]", k, gap, 0.0, gap <= ZERO_TOL, exact=float(np.max(np.abs(n))) * (1 - 1 / scale),
                          note=f"median dn/ds = {slope:.6g}"))
    verdict = verdict_all(cases)
    return AuditRow(
        "7", "If n != 0, quantize_k(r) = (1/(2^k-1)) (2^k-1)(r + n), so the scale factors do not cancel.",
        verdict,
        _condition("Only where L = 1. In truth q(r) = r + n/L and dn/ds = -1, so q' = 1 + (1/L) dn/dr = 0.", cases, verdict),
        "max abs(q(r) - (r + n)): " + "; ".join(f"k={c.k}: {c.value:.3g}" for c in cases)
        + "; the median finite difference of n in s is " + ", ".join(slopes)
        + " (dn/ds = -1, so q' = 0).",
        "a case holds when max abs(q(r) - (r + n)) <= 1e-9.",
        "max abs(q(r) - (r + n))", tuple(cases),
    )


# ---------------------------------------------------------------- steps 8, 8', 9 and identity A


def _exact_p_n_zero(spec: str, k: int) -> float:
    """``P(n = 0)``: the mass of point masses sitting on a level (continuous parts contribute 0)."""
    inp = parse_input(spec)
    total = 0.0
    for weight, part in inp.dist.at_bits(k).parts():
        if isinstance(part, Atom) and float(rounding_error(np.array([part.x]), k)[0]) == 0.0:
            total += weight
    return total


def step_p_zero(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(8) "The probability of n != 0 is low": measured ``P(n = 0)`` (records' ``p_n_zero``)."""
    level = 2.0 * stats.norm.sf(z)
    cases = []
    total_zeros = 0
    for spec in inputs:
        for k in bits:
            rec = records[(spec, k, h)]
            count = int(rec["samples"])
            zeros = round(rec["p_n_zero"] * count)
            total_zeros += zeros
            lo, hi = stats.binomtest(zeros, count).proportion_ci(confidence_level=1.0 - level)
            p = 1.0 - rec["p_n_zero"]
            se = math.sqrt(p * (1.0 - p) / count)
            # P(n != 0) is low when its upper confidence bound, 1 - lo, is below 1/2
            cases.append(Case(spec, k, p, 0.5, 1.0 - lo < 0.5, se=se, exact=1.0 - _exact_p_n_zero(spec, k),
                              note=f"{zeros} of {count:,} samples with n = 0"))
    verdict = verdict_all(cases)
    top = max(cases, key=lambda c: c.value)
    return AuditRow(
        "8", "The probability of n != 0 is low.",
        verdict,
        _condition("Only for inputs with most of their mass exactly on the levels; for a continuous input "
                   "P(n = 0) = 0, the opposite.", cases, verdict),
        f"Samples with n = 0 exactly: {total_zeros} "
        f"in {len(cases)} cells of {records.samples:,} samples each; P(n != 0) up to {top.value:.6g} "
        f"(exact {top.exact:.6g}, {top.label} k={top.k}).",
        f"a case holds when the upper {1 - level:.7f} Clopper-Pearson bound of P(n != 0) is below 1/2.",
        "P(n != 0)", tuple(cases),
    )


def _mean_n_is_zero(rec: Record, z: float) -> bool:
    """``E[n] = 0``: exactly (``abs(exact) <= 1e-9``) when an exact value exists, else within z SE."""
    if rec["exact_mean_n"] is not None:
        return abs(rec["exact_mean_n"]) <= ZERO_TOL
    return within(rec["mean_n"], 0.0, rec["mean_n_se"], z)


def step_mean_zero(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(8') "E(n) = 0" (under "n uniform"): measured E[n] per input and k, with the uniformity of n."""
    cases = []
    not_uniform: list[Case] = []
    for spec in inputs:
        for k in bits:
            rec = records[(spec, k, h)]
            cases.append(Case(spec, k, rec["mean_n"], 0.0, _mean_n_is_zero(rec, z), se=rec["mean_n_se"],
                              exact=rec["exact_mean_n"], note=f"12 Var(n) = {rec['var12_n']:.4g}, KS p = {rec['ks_pvalue']:.3g}"))
            if rec["ks_pvalue"] < 2.0 * stats.norm.sf(z):
                not_uniform.append(cases[-1])
    verdict = verdict_all(cases)
    worst = max(cases, key=lambda c: abs(c.exact if c.exact is not None else c.value))
    zero_nonuniform = [c for c in not_uniform if c.passed]
    extra = ""
    if zero_nonuniform:
        c = zero_nonuniform[0]
        extra = f" E[n] = 0 without n uniform: {c.label} k={c.k} ({c.note})."
    return AuditRow(
        "8'", "E(n) = 0 (under the assumption that n is drawn uniformly from [-0.5, 0.5]).",
        verdict,
        _condition("E(n) = 0 when n is uniform or the input is symmetric about a level or a threshold "
                   "(Im phi(2 pi l) = 0); the implication itself is true.", cases, verdict),
        f"E[n] (Monte Carlo ± SE, exact) in {len(cases)} cells; farthest from 0: {worst.label} k={worst.k}: "
        f"{_pm(worst.value, worst.se, worst.exact)}. n is not uniform (KS p < {2.0 * stats.norm.sf(z):.1e}) "
        f"in {len(not_uniform)} of {len(cases)} cells.{extra}",
        f"a case holds when the exact E[n] is 0 (abs <= {ZERO_TOL:g}), or, with no exact value, the estimate "
        f"is within {z:g} SE of 0.",
        "E[n]", tuple(cases),
    )


STEP_9_CLAIM: Final = "Therefore, under E(n) = 0, quantize_k'(r) = ~quantize_k'(r) = 1 (in expectation)."


def step_conclusion(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(9) "Under E(n) = 0, quantize_k' = 1 in expectation": E[D_h] at every input whose E[n] is 0."""
    cases = []
    vacuous = []
    for spec in inputs:
        for k in bits:
            rec = records[(spec, k, h)]
            if not _mean_n_is_zero(rec, z):
                vacuous.append(Case(spec, k, rec["mean_fd"], 1.0, True, se=rec["mean_fd_se"], exact=rec["exact_mean_fd"],
                                    h=h, note="premise false: E[n] != 0"))
                continue
            scale = levels(k)
            ident = float(exact_cdf_n(parse_input(spec), k, scale * h - 0.5)) / (scale * h) if scale * h <= 1 else None
            note = "" if ident is None else f"F_n(Lh - 1/2)/(Lh) = {ident:.4g}"
            cases.append(Case(spec, k, rec["mean_fd"], 1.0, within(rec["mean_fd"], 1.0, rec["mean_fd_se"], z),
                              se=rec["mean_fd_se"], exact=rec["exact_mean_fd"], h=h, note=note))
    if not cases:
        return AuditRow(
            "9", STEP_9_CLAIM, "holds", "Vacuously: no input given here has E(n) = 0, so nothing can refute the step.",
            f"E[n] != 0 in all {len(vacuous)} cells.", "an implication with a false premise holds vacuously.",
            "E[D_h] given E[n] = 0", tuple(vacuous),
        )
    verdict = verdict_implication(cases)
    bad = [c for c in cases if not c.passed]
    evidence = f"E[n] = 0 in {len(cases)} cells; E[D_h] (forward, h = {h:g}) is more than {z:g} SE from 1 in {len(bad)} of them"
    if bad:
        worst: dict[str, Case] = {}
        for c in bad:  # the farthest case of each input
            if c.label not in worst or c.deviation() > worst[c.label].deviation():
                worst[c.label] = c
        evidence += ": " + "; ".join(f"{c.label} k={c.k}: {_pm(c.value, c.se, c.exact)}" for c in worst.values())
    evidence += ". Identity A explains each value (row A)"
    return AuditRow(
        "9", STEP_9_CLAIM,
        verdict,
        "Does not follow from E(n) = 0. What is true (identity A): E[D_h] = F_n(Lh - 1/2)/(Lh), so E[D_h] = 1 "
        "for every h <= 1/L if and only if n is uniform." if verdict == "fails" else
        "No counterexample among the inputs given; identity A gives the true condition (n uniform).",
        evidence + ".",
        f"an implication: it fails when any input with E[n] = 0 has E[D_h] more than {z:g} SE from 1.",
        "E[D_h] given E[n] = 0", tuple(cases),
    )


def identity_a_row(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], z: float) -> AuditRow:
    """Identity A: ``E[D_h] = F_n(L h - 1/2) / (L h)`` for ``h <= Delta``; all equal 1 iff n is uniform.

    Three independent numbers per (input, k, a = L h): the Monte Carlo E[D_h], the exact CDF sum over
    thresholds (``exact_mean_fd``) and ``F_n(a - 1/2)/a`` from :func:`stecheck.exact.exact_cdf_n`. The
    "iff" is checked against the Sripad-Snyder measure of uniformity ``max_l abs(phi(2 pi l))`` (exact).
    """
    cases = []
    mismatches = 0
    for spec in inputs:
        inp = parse_input(spec)
        for k in bits:
            scale = levels(k)
            grid = np.asarray(IDENTITY_GRID)
            ident = exact_cdf_n(inp, k, grid - 0.5) / grid
            recs = [records[(spec, k, a / scale)] for a in IDENTITY_GRID]
            uniform = max(recs[0]["exact_fourier_abs"]) <= UNIFORM_TOL
            all_one = bool(np.all(np.abs(ident - 1.0) <= UNIFORM_TOL))
            mismatches += int(uniform != all_one)
            for a, value, rec in zip(IDENTITY_GRID, ident, recs):
                agree = within(rec["mean_fd"], float(value), rec["mean_fd_se"], z) and abs(rec["exact_mean_fd"] - value) <= 1e-8 * max(1.0, value)
                cases.append(Case(spec, k, rec["mean_fd"], float(value), agree and uniform == all_one, se=rec["mean_fd_se"],
                                  exact=rec["exact_mean_fd"], h=a / scale,
                                  note=f"a = Lh = {a:g}; n uniform: {uniform}; E[D_h] = 1 for all h <= Delta: {all_one}"))
    verdict = verdict_all(cases)
    uniform_cells = sorted({(c.label, c.k) for c in cases if "n uniform: True" in c.note})
    worst = max(cases, key=Case.deviation)
    return AuditRow(
        "A", "What is true instead (identity A): E[D_h] = F_n(Lh - 1/2)/(Lh) for 0 < h <= 1/L, so E[D_h] = 1 for "
        "every such h if and only if n is uniform.",
        verdict,
        _condition("For the unclipped deterministic quantizer and every input.", cases, verdict),
        f"{len(cases)} cells (input, k, Lh in {', '.join(f'{a:g}' for a in IDENTITY_GRID)}): Monte Carlo E[D_h] "
        f"within {z:g} SE of F_n(Lh - 1/2)/(Lh) (largest deviation {worst.deviation():.2f} SE, {worst.label} k={worst.k}); "
        f"the exact CDF sum agrees to 1e-8. n uniform (max abs(phi(2 pi l)) <= {UNIFORM_TOL:g}) in "
        f"{len(uniform_cells)} (input, k) pairs, exactly those where E[D_h] = 1 at every Lh ({mismatches} mismatches).",
        f"a case holds when the estimate is within {z:g} SE of F_n(Lh - 1/2)/(Lh), the exact E[D_h] equals it to "
        "1e-8, and 'n uniform' agrees with 'E[D_h] = 1 at every Lh'.",
        "E[D_h] vs F_n(Lh - 1/2)/(Lh)", tuple(cases),
    )


# ---------------------------------------------------------------- positive rows


def randomized_rounding_row(records: RecordIndex, rounding: str, points: Sequence[float], bits: Sequence[int],
                            h: float, z: float) -> AuditRow:
    """SR / DITHER: ``d/dr E[q(r)] = 1`` at every r, by finite differences of a Monte Carlo mean with
    common random numbers (the same noise at r and r + h), at fixed points r (``point(x)`` inputs).
    """
    cases = []
    for x in points:
        spec = f"point({format_number(x)})"
        for k in bits:
            for scheme in ("forward", "central"):
                rec = records[(spec, k, h, rounding, scheme)]
                cases.append(Case(f"r = {format_number(x)}", k, rec["mean_fd"], 1.0,
                                  within(rec["mean_fd"], 1.0, rec["mean_fd_se"], z), se=rec["mean_fd_se"],
                                  exact=rec["exact_mean_fd"], h=h, note=scheme))
    verdict = verdict_all(cases)
    worst = max(cases, key=Case.deviation)
    step = "SR" if rounding == "stochastic" else "DITHER" if rounding == "dither" else rounding
    what = {"stochastic": "stochastic rounding floor(L r + U)/L, U ~ Uniform[0,1)",
            "dither": "uniformly dithered rounding round(L r + V)/L, V ~ Uniform[-1/2,1/2)"}.get(rounding, f"{rounding} rounding")
    return AuditRow(
        step, f"With {what}, d/dr E[quantize_k(r)] = 1 at every r.",
        verdict,
        _condition("For every r (unclipped): E[q(r)] = r exactly.", cases, verdict),
        f"Forward and central differences (h = {h:g}) of the Monte Carlo mean over {records.samples:,} draws of the noise, "
        f"shared between r and r + h, at r = {', '.join(format_number(x) for x in points)} (a level, a threshold, "
        f"neither): {sum(c.passed for c in cases)} of {len(cases)} within {z:g} SE of 1; farthest "
        f"{worst.label} k={worst.k} {worst.note}: {_pm(worst.value, worst.se, worst.exact)}."
        + (" With the same noise U, dither round(s + U - 1/2) equals stochastic rounding floor(s + U) except at ties, "
           "so the two rows share their numbers." if rounding == "dither" else ""),
        f"a case holds when the estimate is within {z:g} SE of 1.",
        "d/dr E[q(r)] by finite differences", tuple(cases),
    )


def normal_or_logistic_phi(part: Continuous, scale: int, orders: int) -> NDArray[np.complex128]:
    """``phi(2 pi l)``, l = 1..orders, of ``s = L r`` for a normal or logistic input.

    Normal: ``exp(2 pi i l mu_s - 2 pi^2 l^2 sigma_s^2)``; logistic (scale ``b_s``):
    ``exp(2 pi i l mu_s) pi b_s u / sinh(pi b_s u)`` at ``u = 2 pi l`` (THEORY.md, Fourier view).
    """
    name = part.rv.dist.name
    u = 2.0 * np.pi * np.arange(1, orders + 1)
    mu = scale * float(part.rv.mean())
    if name == "norm":
        sigma = scale * float(part.rv.std())
        return np.exp(1j * u * mu - 0.5 * (sigma * u) ** 2)
    if name == "logistic":
        b = scale * float(part.rv.std()) * math.sqrt(3.0) / math.pi
        x = np.pi * b * u
        ratio = np.where(x < 700, x / np.sinh(np.minimum(x, 700)), 0.0)
        return np.exp(1j * u * mu) * ratio
    raise ConfigError(f"the Fourier row needs a normal or logistic input, got {part.spec!r}")


def fourier_mean_fd(phi: NDArray[np.complex128], a: float) -> tuple[float, float]:
    """Fourier prediction of ``E[D_h] - 1`` at ``a = L h`` (``0 < a <= 1``) and its limit ``h -> 0``.

    From ``f_n(x) = sum_l phi(2 pi l) exp(2 pi i l x)`` and identity A,
    ``E[D_h] - 1 = (2/a) sum_{l>=1} (-1)^l Re[phi(2 pi l) (exp(2 pi i l a) - 1) / (2 pi i l)]``, which tends to
    ``2 sum_{l>=1} (-1)^l Re phi(2 pi l)`` as ``a -> 0`` (Sripad and Snyder 1977; Widrow and Kollar 2008).
    """
    orders = np.arange(1, phi.size + 1)
    sign = np.where(orders % 2 == 0, 1.0, -1.0)
    finite = (2.0 / a) * float(np.sum(sign * (phi * np.expm1(2j * np.pi * orders * a) / (2j * np.pi * orders)).real))
    return finite, 2.0 * float(np.sum(sign * phi.real))


def fourier_row(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, orders: int, z: float) -> AuditRow:
    """F: for smooth inputs the error of E[D_h] against 1 matches ``2 sum (-1)^l Re phi(2 pi l)``."""
    cases = []
    for spec in inputs:
        inp = parse_input(spec)
        parts = inp.dist.parts()
        if len(parts) != 1 or not isinstance(parts[0][1], Continuous):
            raise ConfigError(f"the Fourier row needs a normal or logistic input, got {spec!r}")
        for k in bits:
            scale = levels(k)
            if scale * h > 1.0:
                raise ConfigError(f"the Fourier row needs h <= 1/L: h = {h:g} at k = {k}")
            finite, limit = fourier_mean_fd(normal_or_logistic_phi(parts[0][1], scale, orders), scale * h)
            rec = records[(spec, k, h)]
            value, exact = rec["mean_fd"] - 1.0, rec["exact_mean_fd"] - 1.0
            ok = within(value, finite, rec["mean_fd_se"], z) and abs(exact - finite) <= UNIFORM_TOL * max(1.0, abs(exact))
            cases.append(Case(spec, k, value, finite, ok, se=rec["mean_fd_se"], exact=exact, h=h,
                              note=f"h -> 0 limit 2 sum (-1)^l Re phi(2 pi l) = {limit:.4g}"))
    verdict = verdict_all(cases)
    big = max(cases, key=lambda c: abs(c.target))
    worst = max(cases, key=Case.deviation)
    return AuditRow(
        "F", "For smooth inputs the error of E[D_h] against 1 is the Fourier sum 2 sum_l (-1)^l Re phi(2 pi l) "
        "(phi: characteristic function of L r; normal: exp(2 pi i l mu_s - 2 pi^2 l^2 sigma_s^2)).",
        verdict,
        _condition("For inputs whose characteristic function is known (normal, logistic here).", cases, verdict),
        f"E[D_h] - 1 (forward, h = {h:g}; Monte Carlo ± SE, exact CDF sum) against the series with {orders} terms "
        f"(finite-h form) in {len(cases)} cells: largest predicted error {big.label} k={big.k}: prediction "
        f"{big.target:.4g}, measured {_pm(big.value, big.se, big.exact)} ({big.note}); largest deviation "
        f"{worst.deviation():.2f} SE ({worst.label} k={worst.k}).",
        f"a case holds when the estimate is within {z:g} SE of the prediction and the exact value within "
        f"{UNIFORM_TOL:g} (relative) of it.",
        "E[D_h] - 1 vs Fourier prediction", tuple(cases),
    )


# ---------------------------------------------------------------- rows on real weights


def _tensor_label(rec: Record) -> str:
    return f"{rec['source']}:{rec['tensor']}"


def _weight_cells(records: Sequence[Record], bits: Sequence[int], h: float) -> list[Record]:
    """Tensor records of a weights scan at the audit's k and h (degenerate tensors left out)."""
    cells = [r for r in records if r["kind"] == "tensor" and not r["degenerate"] and r["k"] in bits and r["h"] == h]
    if not cells:
        raise ConfigError(f"the weights scan has no usable tensor at k in {list(bits)} and h = {h:g}")
    return cells


def _weights_mean_case(rec: Record, z: float) -> Case:
    """E[n] of a tensor (exact for the tensor) against 0, with the standard error of a sample of its size."""
    se = math.sqrt(rec["var_n"] / (rec["size"] - rec["nonfinite"]))
    return Case(_tensor_label(rec), rec["k"], rec["mean_n"], 0.0, within(rec["mean_n"], 0.0, se, z), se=se,
                exact=rec["mean_n"], note=f"{rec['size']:,} weights, 12 Var(n) = {rec['var12_n']:.4g}")


def weights_mean_zero_row(records: Sequence[Record], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(8') on real weights: E[n] of each tensor (DoReFa transform) against 0.

    A tensor's E[n] is exact (the tensor is the population); the standard error ``sqrt(Var(n) / size)`` asks
    whether the weights could be a sample from an input with E[n] = 0 (THEORY.md, Monte Carlo versus exact).
    """
    cases = [_weights_mean_case(rec, z) for rec in _weight_cells(records, bits, h)]
    verdict = verdict_all(cases)
    worst = max(cases, key=Case.deviation)
    return AuditRow(
        "8'W", "E(n) = 0 for real weights (DoReFa weight transform).",
        verdict,
        _condition("For tensors whose transformed weights are symmetric about a level or a threshold.", cases, verdict),
        f"E[n] of {len({c.label for c in cases})} tensors at k = {_bits_text(c.k for c in cases)}: "
        f"{sum(c.passed for c in cases)} of {len(cases)} within {z:g} SE of 0; farthest {worst.label} k={worst.k}: "
        f"{_pm(worst.value, worst.se)} ({worst.note}).",
        f"a case holds when the tensor's E[n] is within {z:g} SE (of a sample of its size) of 0.",
        "E[n] of a tensor", tuple(cases),
    )


def weights_conclusion_row(records: Sequence[Record], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(9) on real weights: E[D_h] of each tensor whose E[n] is 0 (row 8'W), against 1.

    The standard error is that of a sample of the tensor's size: ``Var(D_h) = (Delta/h) E[D_h] - E[D_h]^2``
    for ``h <= Delta`` (D_h is 0 or Delta/h).
    """
    cases, vacuous = [], []
    for rec in _weight_cells(records, bits, h):
        size = rec["size"] - rec["nonfinite"]
        mean = rec["mean_fd"]
        scale = levels(rec["k"])
        se = math.sqrt(max(mean / (scale * h) - mean * mean, 0.0) / size)
        case = Case(_tensor_label(rec), rec["k"], mean, 1.0, within(mean, 1.0, se, z), se=se, exact=mean, h=h,
                    note=f"E[n] = {rec['mean_n']:.3g}")
        if _weights_mean_case(rec, z).passed:
            cases.append(case)
        else:
            vacuous.append(replace(case, passed=True, note="premise false: E[n] != 0"))
    if not cases:
        return AuditRow(
            "9W", STEP_9_CLAIM + " On real weights.", "holds",
            "Vacuously: no tensor here has E(n) = 0 within its standard error.",
            f"E[n] != 0 in all {len(vacuous)} (tensor, k) cells.", "an implication with a false premise holds vacuously.",
            "E[D_h] of a tensor given E[n] = 0", tuple(vacuous),
        )
    verdict = verdict_implication(cases)
    bad = [c for c in cases if not c.passed]
    far = max(cases, key=Case.deviation)
    return AuditRow(
        "9W", STEP_9_CLAIM + " On real weights.",
        verdict,
        "Does not follow: E[D_h] = F_n(Lh - 1/2)/(Lh) depends on the whole distribution of n (identity A), not "
        "on its mean." if verdict == "fails" else "No counterexample among these tensors.",
        f"E[n] = 0 (within {z:g} SE) in {len(cases)} (tensor, k) cells; E[D_h] (forward, h = {h:g}, exact for "
        f"the tensor) is more than {z:g} SE from 1 in {len(bad)} of them; farthest {far.label} k={far.k}: "
        f"{_pm(far.value, far.se)} ({far.note}).",
        f"an implication: it fails when any tensor with E[n] = 0 has E[D_h] more than {z:g} SE (of a sample of "
        "its size) from 1.",
        "E[D_h] of a tensor given E[n] = 0", tuple(cases),
    )


# ---------------------------------------------------------------- the engine runs and the audit


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


@dataclass(frozen=True)
class AuditResult:
    """Audit records (one per step and positive row), the rows themselves, and provenance."""

    config: AuditConfig
    rows: list[AuditRow]
    records: list[Record]
    meta: dict[str, Any]


def engine_configs(cfg: AuditConfig) -> list[RunConfig]:
    """The engine runs an audit needs (``cfg`` validated, seed set): one per k for the deterministic
    inputs (steps h and ``a / L`` for identity A), one for the randomised roundings at fixed points."""
    specs = tuple(dict.fromkeys(cfg.inputs + cfg.smooth_inputs))
    out = []
    for k in cfg.bits:
        scale = levels(k)  # type: ignore[arg-type]
        steps = tuple(dict.fromkeys((cfg.h, *(a / scale for a in IDENTITY_GRID))))
        out.append(RunConfig(name="audit", inputs=specs, bits=(k,), steps=steps, schemes=("forward",),
                             roundings=("half-even",), samples=cfg.samples, seed=cfg.seed, method="both"))
    points = tuple(f"point({format_number(x)})" for x in cfg.points)
    out.append(RunConfig(name="audit", inputs=points, bits=cfg.bits, steps=(cfg.h,), schemes=("forward", "central"),  # type: ignore[arg-type]
                         roundings=cfg.randomized, samples=cfg.samples, seed=cfg.seed, method="both"))
    return out


def prepared(cfg: AuditConfig) -> AuditConfig:
    """``cfg`` validated, with a seed (fresh OS entropy when unset; recorded in meta)."""
    cfg = cfg.validated()
    if cfg.seed is None:
        cfg = replace(cfg, seed=int(np.random.SeedSequence().entropy))  # type: ignore[arg-type]
    return cfg


def audit_samples(cfg: AuditConfig) -> int:
    """Monte Carlo samples an audit draws (a progress bar's total)."""
    return sum(total_samples(c) for c in engine_configs(prepared(replace(cfg, seed=cfg.seed or 0))))


def audit(cfg: AuditConfig = AuditConfig(), threads: int = 1, progress: Progress | None = None,
          weights: Sequence[Record] | None = None) -> AuditResult:
    """Run the audit: every step of the argument and the positive rows, verdicts computed from numbers.

    Parameters
    ----------
    cfg : AuditConfig
        The inputs; a missing seed is drawn from fresh OS entropy and recorded in ``meta["seed"]``.
    threads : int
        Engine worker threads (results do not depend on it).
    progress : callable, optional
        Called with the number of Monte Carlo samples finished.
    weights : list of records, optional
        Records of :func:`stecheck.weights.scan` (DoReFa transform) at the audit's k and h; adds rows 8'W and 9W.
    """
    cfg = prepared(cfg)
    seed = cfg.seed
    assert isinstance(seed, int)
    bits: tuple[int, ...] = cfg.bits  # type: ignore[assignment]
    started = time.perf_counter()
    records: list[Record] = []
    for run_cfg in engine_configs(cfg):
        records.extend(run(run_cfg, threads=threads, progress=progress).records)
    index = RecordIndex.of(records, cfg.samples)
    positive = [randomized_rounding_row(index, rounding, cfg.points, bits, cfg.h, cfg.z) for rounding in cfg.randomized]
    rows = [
        step_definition(bits, seed),
        step_cancel(bits, seed),
        step_identity_slope(bits, seed),
        step_round_question(bits, seed, positive, cfg.z),
        step_adds_n(bits, seed),
        step_zero_error_slope(bits),
        step_scale_factors(bits, seed),
        step_p_zero(index, cfg.inputs, bits, cfg.h, cfg.z),
        step_mean_zero(index, cfg.inputs, bits, cfg.h, cfg.z),
        step_conclusion(index, cfg.inputs, bits, cfg.h, cfg.z),
        identity_a_row(index, cfg.inputs, bits, cfg.z),
        *positive,
        fourier_row(index, cfg.smooth_inputs, bits, cfg.h, cfg.orders, cfg.z),
    ]
    if weights is not None:
        rows += [weights_mean_zero_row(weights, bits, cfg.h, cfg.z), weights_conclusion_row(weights, bits, cfg.h, cfg.z)]
    wall = time.perf_counter() - started
    meta = provenance("audit", cfg.as_dict(), seed=seed, wall_time_s=wall, threads=threads)
    meta["seed"] = str(seed)
    meta["verdict_rule"] = (
        "a step holds when every case passes, fails when none does, holds-only-if when some do; step 9 (an "
        "implication) fails on one counterexample. Each row states its case rule."
    )
    return AuditResult(cfg, rows, [row.record() for row in rows], meta)
