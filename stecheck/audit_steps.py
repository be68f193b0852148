"""The steps of the argument "Lemma Two", each checked with numbers (pure: no I/O).

Steps 1-7 are algebra about the quantizer, checked on a grid and on ``ALGEBRA_SAMPLES`` draws of
r ~ Uniform[0, 1] from ``SeedSequence(seed, spawn_key=(ALGEBRA_STREAM, step))``; steps 8, 8' and 9 read
the engine's records (:class:`stecheck.audit_rows.RecordIndex`) for the audit's inputs.
"""

from __future__ import annotations

import math
from typing import Final, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from stecheck.audit_rows import (
    ZERO_TOL,
    AuditRow,
    Case,
    RecordIndex,
    Verdict,
    conditional,
    pm_text,
    verdict_all,
    verdict_implication,
    within,
)
from stecheck.distributions import Atom, parse_input
from stecheck.exact import exact_cdf_n
from stecheck.quantize import levels, quantize, round_scaled, rounding_error
from stecheck.records import Record

__all__ = [
    "ALGEBRA_SAMPLES",
    "ALGEBRA_STREAM",
    "STEP_9_CLAIM",
    "step_definition",
    "step_cancel",
    "step_identity_slope",
    "step_round_question",
    "step_adds_n",
    "step_zero_error_slope",
    "step_scale_factors",
    "step_p_zero",
    "step_mean_zero",
    "step_conclusion",
    "mean_n_is_zero",
]

#: Draws of r ~ Uniform[0, 1] for the algebraic steps (1-7): exact checks, not estimates.
ALGEBRA_SAMPLES: Final = 1 << 16
#: Spawn-key prefix of the algebraic steps' streams (distinct from every engine stream key layout).
ALGEBRA_STREAM: Final = 0xA0D17

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
        verdict, conditional("For every k.", cases, verdict),
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
        verdict, conditional("For every k (an identity of real arithmetic).", cases, verdict),
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
        verdict, conditional("For every k.", cases, verdict),
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
        verdict, conditional("Only where L = 1: round adds n to L r, i.e. n/L to r.", cases, verdict),
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
        verdict, conditional("Nowhere: at n = 0 (r on a level) quantize_k is flat on both sides.", cases, verdict),
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
        conditional("Only where L = 1. In truth q(r) = r + n/L and dn/ds = -1, so q' = 1 + (1/L) dn/dr = 0.", cases, verdict),
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
        conditional("Only for inputs with most of their mass exactly on the levels; for a continuous input "
                   "P(n = 0) = 0, the opposite.", cases, verdict),
        f"Samples with n = 0 exactly: {total_zeros} "
        f"in {len(cases)} cells of {records.samples:,} samples each; P(n != 0) up to {top.value:.6g} "
        f"(exact {top.exact:.6g}, {top.label} k={top.k}).",
        f"a case holds when the upper {1 - level:.7f} Clopper-Pearson bound of P(n != 0) is below 1/2.",
        "P(n != 0) (claimed low: below 1/2)", tuple(cases),
    )


def mean_n_is_zero(rec: Record, z: float) -> bool:
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
            cases.append(Case(spec, k, rec["mean_n"], 0.0, mean_n_is_zero(rec, z), se=rec["mean_n_se"],
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
        conditional("E(n) = 0 when n is uniform or the input is symmetric about a level or a threshold "
                   "(Im phi(2 pi l) = 0); the implication itself is true.", cases, verdict),
        f"E[n] (Monte Carlo ± SE, exact) in {len(cases)} cells; farthest from 0: {worst.label} k={worst.k}: "
        f"{pm_text(worst.value, worst.se, worst.exact)}. n is not uniform (KS p < {2.0 * stats.norm.sf(z):.1e}) "
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
            if not mean_n_is_zero(rec, z):
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
        evidence += ": " + "; ".join(f"{c.label} k={c.k}: {pm_text(c.value, c.se, c.exact)}" for c in worst.values())
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
