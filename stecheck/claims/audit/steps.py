"""The steps of the argument "Lemma Two", each checked with numbers (pure: no I/O).

Steps 1-7 are algebra about the quantizer, checked on a grid and on ``ALGEBRA_SAMPLES`` draws of
r ~ Uniform[0, 1] from ``SeedSequence(seed, spawn_key=(ALGEBRA_STREAM, step))``; steps 8, 8' and 9 read
the engine's records (:class:`stecheck.claims.audit.rows.RecordIndex`) for the audit's inputs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Final, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from stecheck.claims.audit.rows import (
    UNIFORM_TOL,
    ZERO_TOL,
    AuditRow,
    Case,
    RecordIndex,
    conditional,
    pm_text,
    verdict_all,
    verdict_implication,
    within,
)
from stecheck.core.distributions import Atom, parse_input
from stecheck.core.exact import exact_cdf_n
from stecheck.core.quantize import levels, quantize, round_scaled, rounding_error
from stecheck.records import Record

__all__ = [
    "ALGEBRA_SAMPLES",
    "ALGEBRA_STREAM",
    "STEP_9_CLAIM",
    "Map",
    "unrounded",
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
    "n_is_uniform",
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


#: ``f(r, k)``: a map of r at bit width k (the quantizer of steps 1 and 6, its unrounded form in steps 2 and 3).
Map = Callable[[NDArray[np.float64], int], NDArray[np.float64]]


def unrounded(r: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """``~quantize_k(r) = (1/L)(L r)``: the quantizer without round(), in float64."""
    scale = levels(k)
    return (scale * r) / scale


def step_definition(bits: Sequence[int], seed: int, quantizer: Map = quantize) -> AuditRow:
    """(1) ``quantize_k(r) = round(L r)/L`` maps [0, 1] onto the ``2^k`` levels ``j / L`` (of ``quantizer``)."""
    cases = []
    for k in bits:
        scale = levels(k)
        r = np.concatenate([np.linspace(0.0, 1.0, 4 * scale + 1), _uniform_r(seed, 1)])
        q = quantizer(r, k)
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


def step_cancel(bits: Sequence[int], seed: int, tilde: Map = unrounded) -> AuditRow:
    """(2) Without round(), ``(1/L)(L r) = r``: the scale factors cancel (up to floating point; ``tilde``
    is the unrounded quantizer)."""
    r = _uniform_r(seed, 2)
    cases = []
    for k in bits:
        gap = float(np.max(np.abs(tilde(r, k) - r)))
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


def step_identity_slope(bits: Sequence[int], seed: int, h: float = 1e-6, tilde: Map = unrounded) -> AuditRow:
    """(3) ``~q'(r) = 1``: central differences of ``(L r)/L`` (``tilde``) equal 1 up to rounding noise ``~eps/h``."""
    r = _uniform_r(seed, 3)
    cases = []
    for k in bits:
        slope = (tilde(r + h / 2, k) - tilde(r - h / 2, k)) / h
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


def step_round_question(bits: Sequence[int], seed: int, deterministic: Sequence[Case], positive: Sequence[AuditRow],
                        z: float) -> AuditRow:
    """(4) "round() can be made to disappear": the slope ``d/dr E[q(r)]`` measured against the claimed 1.

    Cases: the deterministic round() of quantize_k (``deterministic``, from
    :func:`stecheck.claims.audit.truths.slope_cases`) and every randomised rounding of ``positive`` (rows SR,
    DITHER), at the same points, bit widths and steps. A case holds when its exact slope is 1 and its
    estimate within ``z`` SE of 1 (the README's rule); the step holds when every case does, fails when none
    does, holds-only-if otherwise. As context, the fraction of ``r ~ Uniform[0, 1]`` at which deterministic
    rounding is flat on both sides at ``h = 1e-6 Delta`` (exact ``1 - 2 L h``).
    """
    randomized = [row for row in positive if row.step in ("SR", "DITHER")]
    names = {"SR": "stochastic rounding", "DITHER": "dither"}
    cases = list(deterministic) + [replace(c, label=names[row.step]) for row in randomized for c in row.cases]
    r = _uniform_r(seed, 4)
    flat_text = []
    for k in bits:
        h = 1e-6 / levels(k)
        flat = (quantize(r + h, k) == quantize(r, k)) & (quantize(r - h, k) == quantize(r, k))
        flat_text.append(f"k={k}: {np.mean(flat):.6g} (exact {1.0 - 2.0 * levels(k) * h:.6g})")
    verdict = verdict_all(cases)
    det = max(deterministic, key=lambda c: abs(c.value - c.target)) if deterministic else None
    return AuditRow(
        "4", "In the absence of round() the scale factors cancel and the derivative is 1; round() can be made "
        "to disappear in some justified fashion (so that d/dr E[quantize_k(r)] = 1).",
        verdict,
        conditional("Only in expectation over randomness inside the quantizer (stochastic rounding or uniform dither, "
                    "rows SR and DITHER); deterministic round() never disappears: quantize_k' = 0 wherever it exists.",
                    cases, verdict),
        "Measured d/dr E[q(r)] (claimed 1) by forward and central differences at fixed points: "
        + (f"deterministic round() gives {det.exact:.4g} at worst ({det.note.split(';')[0]}, k={det.k}); " if det else "")
        + "; ".join(f"{row.step}: {sum(c.passed for c in row.cases)} of {len(row.cases)} cases at 1" for row in randomized)
        + ". Deterministic rounding is flat on both sides of r ~ Uniform[0,1] at h = 1e-6 Delta in a fraction "
        + "; ".join(flat_text) + ", so quantize_k' = 0 off the thresholds.",
        f"a case (a rounding, point, k and scheme) holds when the exact slope is 1 (within 1e-9) and the estimate "
        f"within {z:g} SE of 1; the step holds when every case does, fails when none does, holds-only-if otherwise.",
        "d/dr E[q(r)]", tuple(cases),
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


def step_zero_error_slope(bits: Sequence[int], steps: Sequence[float] = (1e-1, 1e-3, 1e-6),
                          quantizer: Map = quantize) -> AuditRow:
    """(6) "If n = 0 then quantize_k' = 1": finite differences of ``quantizer`` on both sides of every level
    ``j / L``; a case holds when every one of them is 1 (up to floating-point noise ``~eps/h``, 1e-6)."""
    cases = []
    for k in bits:
        scale = levels(k)
        r = np.arange(scale + 1) / scale
        n = float(np.max(np.abs(rounding_error(r, k))))
        slopes = []
        for a in steps:
            h = a / scale
            q = quantizer(r, k)
            slopes += [(quantizer(r + h, k) - q) / h, (q - quantizer(r - h, k)) / h]
        every = np.concatenate(slopes)
        worst = float(np.max(np.abs(every)))
        ok = float(np.max(np.abs(every - 1.0))) <= 1e-6
        cases.append(Case(f"the {scale + 1} levels j/L", k, worst, 1.0, ok,
                          note=f"max abs(n) at the levels {n:.2g}; h = {', '.join(f'{a:g}' for a in steps)} Delta"))
    verdict = verdict_all(cases)
    return AuditRow(
        "6", "If n = 0, then quantize_k'(r) = ~quantize_k'(r) = 1.",
        verdict, conditional("Nowhere: at n = 0 (r on a level) quantize_k is flat on both sides.", cases, verdict),
        "Forward and backward differences at every level j/L (where n = 0) with h = "
        + ", ".join(f"{a:g}" for a in steps) + " Delta: max abs(D_h) = "
        + "; ".join(f"k={c.k}: {c.value:.3g}" for c in cases) + " (the claim needs 1).",
        "a case holds when every one-sided difference at the levels equals 1 (within 1e-6, floating-point noise).",
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
    """(8) "The probability of n != 0 is low": ``P(n != 0)`` per input and k, against 1/2.

    The exact ``P(n != 0)`` is the mass off the levels (a continuous input has none on them); the Monte
    Carlo count of samples with ``n = 0`` is shown beside it. A case holds when the exact value is below 1/2
    (with no exact value: when the upper Clopper-Pearson bound at the z-level is). Inputs with point masses
    on the levels are the ones that can make it hold.
    """
    level = 2.0 * stats.norm.sf(z)
    cases = []
    total_zeros = 0
    for spec in inputs:
        has_exact = parse_input(spec).has_exact
        for k in bits:
            rec = records[(spec, k, h)]
            count = int(rec["samples"])
            zeros = round(rec["p_n_zero"] * count)
            total_zeros += zeros
            lo, _ = stats.binomtest(zeros, count).proportion_ci(confidence_level=1.0 - level)
            p = 1.0 - rec["p_n_zero"]
            se = math.sqrt(p * (1.0 - p) / count)
            exact = 1.0 - _exact_p_n_zero(spec, k) if has_exact else None
            low = exact < 0.5 if exact is not None else 1.0 - lo < 0.5
            cases.append(Case(spec, k, p, 0.5, low, se=se, exact=exact,
                              note=f"{zeros} of {count:,} samples with n = 0; upper bound of P(n != 0) {1.0 - lo:.6g}"))
    verdict = verdict_all(cases)
    top = max(cases, key=lambda c: c.value)
    low_cases = [c for c in cases if c.passed]
    return AuditRow(
        "8", "The probability of n != 0 is low.",
        verdict,
        conditional("Only for inputs with most of their mass exactly on the levels (point masses); for a continuous "
                    "input P(n = 0) = 0, the opposite.", cases, verdict),
        f"Samples with n = 0 exactly: {total_zeros:,} in {len(cases)} cells of {records.samples:,} samples each; "
        f"P(n != 0) up to {top.value:.6g} (exact {top.exact if top.exact is not None else float('nan'):.6g}, {top.label} k={top.k})"
        + ("; below 1/2 only with point masses on the levels: " + "; ".join(
            f"{c.label} k={c.k}: {pm_text(c.value, c.se, c.exact)}" for c in low_cases[:4]) if low_cases else "")
        + ".",
        "a case holds when P(n != 0) is below 1/2: the exact value (1 - the mass of point masses on levels) when "
        f"there is one, else the upper {1 - level:.7f} Clopper-Pearson bound.",
        "P(n != 0) (claimed low: below 1/2)", tuple(cases),
    )


def mean_n_is_zero(rec: Record, z: float) -> bool:
    """``E[n] = 0``: exactly (``abs(exact) <= 1e-9``) when an exact value exists, else within z SE."""
    if rec["exact_mean_n"] is not None:
        return abs(rec["exact_mean_n"]) <= ZERO_TOL
    return within(rec["mean_n"], 0.0, rec["mean_n_se"], z)


def n_is_uniform(rec: Record) -> bool | None:
    """``n ~ Uniform[-1/2, 1/2]`` by the Sripad-Snyder condition, ``max_l abs(phi(2 pi l)) <= 1e-6`` (exact), or
    None without exact Fourier magnitudes."""
    four = rec["exact_fourier_abs"]
    return None if four is None else max(four) <= UNIFORM_TOL


def step_mean_zero(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(8') "E(n) = 0 under the assumption that n is uniform": judged on the cells where n is uniform.

    The premise is decided exactly (:func:`n_is_uniform`); on those cells E[n] must be 0: the exact value
    within the premise's tolerance 1e-6, and the Monte Carlo estimate within z SE of 0. Cells where n is
    not uniform are shown, not counted, and reported apart: E[n] is often 0 there too.
    """
    cases = []
    for spec in inputs:
        for k in bits:
            rec = records[(spec, k, h)]
            uniform = n_is_uniform(rec)
            exact = rec["exact_mean_n"]
            zero = within(rec["mean_n"], 0.0, rec["mean_n_se"], z) and (exact is None or abs(exact) <= UNIFORM_TOL)
            four = rec["exact_fourier_abs"]
            phi = "" if four is None else f"max abs(phi(2 pi l)) = {max(four):.3g}, "
            if uniform:
                note = f"premise true: n uniform ({phi}12 Var(n) = {rec['var12_n']:.4g})"
            else:
                zero = mean_n_is_zero(rec, z)
                note = (f"premise {'false' if uniform is False else 'undecided'}: {phi}12 Var(n) = {rec['var12_n']:.4g}; "
                        f"not counted; E[n] = 0: {zero}")
            cases.append(Case(spec, k, rec["mean_n"], 0.0, zero, se=rec["mean_n_se"], exact=exact, note=note,
                              counted=bool(uniform)))
    premise = [c for c in cases if c.counted]
    aside = [c for c in cases if not c.counted]
    zero_anyway = [c for c in aside if c.passed]
    apart = (f" Apart from the premise: E[n] = 0 also where n is not uniform, in {len(zero_anyway)} of {len(aside)} cells ("
             + "; ".join(f"{c.label} k={c.k}: {pm_text(c.value, c.se, c.exact)}" for c in zero_anyway[:4])
             + (", ..." if len(zero_anyway) > 4 else "") + "), inputs symmetric about a level or a threshold."
             if zero_anyway else "")
    claim = "E(n) = 0 (under the assumption that n is drawn uniformly from [-0.5, 0.5])."
    if not premise:
        return AuditRow(
            "8'", claim, "holds", "Vacuously: n is uniform for no input given here, so nothing can refute the step.",
            f"n is not uniform in all {len(cases)} cells.{apart}",
            "an implication with a false premise holds vacuously.", "E[n] given n uniform", tuple(cases),
        )
    verdict = verdict_implication(premise)
    worst = max(premise, key=lambda c: abs(c.exact if c.exact is not None else c.value))
    return AuditRow(
        "8'", claim,
        verdict,
        "The implication is true: n uniform gives E(n) = 0. E(n) = 0 does not need it (any input symmetric about a "
        "level or a threshold has Im phi(2 pi l) = 0)." if verdict == "holds" else
        "A cell with n uniform has E(n) != 0: a numerical defect, since n uniform implies E(n) = 0.",
        f"n uniform (max_l abs(phi(2 pi l)) <= {UNIFORM_TOL:g}, exact) in {len(premise)} of {len(cases)} cells; E[n] there "
        f"(Monte Carlo ± SE, exact) farthest from 0: {worst.label} k={worst.k}: {pm_text(worst.value, worst.se, worst.exact)}."
        + apart,
        f"an implication judged on the cells where n is uniform: it fails when one has exact abs(E[n]) > {UNIFORM_TOL:g} "
        f"or an estimate more than {z:g} SE from 0.",
        "E[n] given n uniform", tuple(cases),
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
            exact = rec["exact_mean_fd"]
            one = abs(exact - 1.0) <= UNIFORM_TOL if exact is not None else within(rec["mean_fd"], 1.0, rec["mean_fd_se"], z)
            cases.append(Case(spec, k, rec["mean_fd"], 1.0, one, se=rec["mean_fd_se"], exact=exact, h=h, note=note))
    if not cases:
        return AuditRow(
            "9", STEP_9_CLAIM, "holds", "Vacuously: no input given here has E(n) = 0, so nothing can refute the step.",
            f"E[n] != 0 in all {len(vacuous)} cells.", "an implication with a false premise holds vacuously.",
            "E[D_h] given E[n] = 0", tuple(vacuous),
        )
    verdict = verdict_implication(cases)
    bad = [c for c in cases if not c.passed]
    evidence = f"E[n] = 0 in {len(cases)} cells; E[D_h] (forward, h = {h:g}) is not 1 in {len(bad)} of them"
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
        f"an implication: it fails when any input with E[n] = 0 has E[D_h] != 1: the exact value more than "
        f"{UNIFORM_TOL:g} from 1, or, with no exact value, the estimate more than {z:g} SE from 1.",
        "E[D_h] given E[n] = 0", tuple(cases),
    )
