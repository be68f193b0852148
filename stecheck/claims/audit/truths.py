"""What is true instead of the argument's conclusion, and the argument on real weights (pure: no I/O).

Identity A (``E[D_h] = F_n(L h - 1/2) / (L h)``; all equal 1 iff n is uniform), stochastic rounding and
uniform dither (``d/dr E[q(r)] = 1`` at every r: exact finite sums over the rounding's outcomes and a
stratified Monte Carlo, :mod:`stecheck.claims.audit.sums`), the Fourier prediction of ``lim_{h->0} E[D_h] - 1``
for smooth inputs against the density at the thresholds (THEORY.md), and steps 8' and 9 evaluated on the
records of a weights scan.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.claims.audit.rows import (
    UNIFORM_TOL,
    ZERO_TOL,
    AuditRow,
    Case,
    RecordIndex,
    bits_text,
    conditional,
    pm_text,
    verdict_all,
    verdict_implication,
    within,
)
from stecheck.claims.audit.steps import STEP_9_CLAIM
from stecheck.claims.audit.sums import density_limit, expected_slope, stratified_slope
from stecheck.claims.phase.map import Family, fourier_sums
from stecheck.core.distributions import Continuous, format_number, parse_input
from stecheck.core.exact import exact_cdf_n
from stecheck.core.kernel import rounded_levels
from stecheck.core.quantize import levels, rounding_error
from stecheck.errors import ConfigError
from stecheck.records import Record

__all__ = [
    "IDENTITY_GRID",
    "identity_a_row",
    "point_kind",
    "REJECTABLE_SLOPE",
    "slope_cases",
    "randomized_rounding_row",
    "location_scale",
    "fourier_prediction",
    "FOURIER_FLOOR",
    "LIMIT_TOL",
    "fourier_decides",
    "fourier_row",
    "uniform_level",
    "weights_mean_zero_row",
    "weights_conclusion_row",
]

#: Steps, in units of Delta (a = L h), at which identity A is shown.
IDENTITY_GRID: Final = (0.1, 0.25, 0.5, 0.75, 1.0)
#: A cell decides row F only when its predicted h -> 0 error ``abs(2 sum (-1)^l Re phi(2 pi l))`` is at least this.
FOURIER_FLOOR: Final = 0.01
#: Relative tolerance between the density sum and the Fourier sum (both accurate to about 1e-12).
LIMIT_TOL: Final = 1e-9


def identity_a_row(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], z: float) -> AuditRow:
    """Identity A: ``E[D_h] = F_n(L h - 1/2) / (L h)`` for ``h <= Delta``; all equal 1 iff n is uniform.

    Three independent numbers per (input, k, a = L h): the Monte Carlo E[D_h], the exact CDF sum over
    thresholds (``exact_mean_fd``) and ``F_n(a - 1/2)/a`` from :func:`stecheck.core.exact.exact_cdf_n`. The
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
                note = f"a = Lh = {a:g}; n uniform: {uniform}; E[D_h] = 1 for all h <= Delta: {all_one}"
                if a == 1.0:
                    note += "; not counted: at Lh = 1 every window holds one threshold, D_h = 1 for every sample"
                cases.append(Case(spec, k, rec["mean_fd"], float(value), agree and uniform == all_one, se=rec["mean_fd_se"],
                                  exact=rec["exact_mean_fd"], h=a / scale, note=note, counted=a != 1.0))
    verdict = verdict_all(cases)
    uniform_cells = sorted({(c.label, c.k) for c in cases if "n uniform: True" in c.note})
    counted = [c for c in cases if c.counted]
    worst = max(counted, key=Case.deviation)
    return AuditRow(
        "A", "What is true instead (identity A): E[D_h] = F_n(Lh - 1/2)/(Lh) for 0 < h <= 1/L, so E[D_h] = 1 for "
        "every such h if and only if n is uniform.",
        verdict,
        conditional("For the unclipped deterministic quantizer and every input.", cases, verdict),
        f"{len(counted)} cells (input, k, Lh in {', '.join(f'{a:g}' for a in IDENTITY_GRID if a != 1.0)}; the "
        f"{len(cases) - len(counted)} cells at Lh = 1 are shown but not counted: there D_h = 1 for every sample and "
        "input, SE 0, a tautology): Monte Carlo E[D_h] "
        f"within {z:g} SE of F_n(Lh - 1/2)/(Lh) (largest deviation {worst.deviation():.2f} SE, {worst.label} k={worst.k}); "
        f"the exact CDF sum agrees to 1e-8. n uniform (max abs(phi(2 pi l)) <= {UNIFORM_TOL:g}) in "
        f"{len(uniform_cells)} (input, k) pairs, exactly those where E[D_h] = 1 at every Lh ({mismatches} mismatches).",
        f"a case holds when the estimate is within {z:g} SE of F_n(Lh - 1/2)/(Lh), the exact E[D_h] equals it to "
        "1e-8, and 'n uniform' agrees with 'E[D_h] = 1 at every Lh'; cells at Lh = 1 are not counted.",
        "E[D_h] vs F_n(Lh - 1/2)/(Lh)", tuple(cases),
    )


# ---------------------------------------------------------------- positive rows


def point_kind(x: float, bits: Sequence[int]) -> str:
    """``r = x (a level at k=1-4)``: where ``x`` sits on the grid of each k (a level, a threshold, or neither)."""
    kinds: dict[str, list[int]] = {}
    for k in bits:
        n = abs(float(rounding_error(np.array([x]), k)[0]))
        kinds.setdefault("a level" if n == 0.0 else "a threshold" if n == 0.5 else "neither", []).append(k)
    return f"r = {format_number(x)} (" + ", ".join(f"{kind} at k={bits_text(ks)}" for kind, ks in kinds.items()) + ")"


#: Each randomised-rounding case must resolve a slope this far from 1 (the rows report how many SE it is).
REJECTABLE_SLOPE: Final = 0.95

_ROUNDING_TEXT: Final = {
    "stochastic": "stochastic rounding floor(L r + U)/L, U ~ Uniform[0,1)",
    "dither": "uniformly dithered rounding round(L r + V)/L, V ~ Uniform[-1/2,1/2)",
    "half-even": "deterministic rounding round(L r)/L (half to even)",
    "half-up": "deterministic rounding floor(L r + 1/2)/L",
}


def slope_cases(rounding: str, points: Sequence[float], bits: Sequence[int], h: float, z: float,
                noise: NDArray[np.float64], label: str | None = None) -> list[Case]:
    """``d/dr E[q(r)]`` at fixed points by forward and central differences: measured against the claim 1.

    Per (point, k, scheme): the exact finite sum ``(E[q(r + hi)] - E[q(r + lo)]) / h`` over the rounding's
    outcomes (:func:`stecheck.claims.audit.sums.expected_slope`) and a stratified Monte Carlo estimate with common
    random numbers (:func:`stecheck.claims.audit.sums.stratified_slope`) of the engine's rounding
    (:func:`stecheck.core.kernel.rounded_levels`). A case passes when the exact slope is 1 (within 1e-9) and the
    estimate is within ``z`` SE of 1.
    """
    def level(s: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.float64]:
        return rounded_levels(s, rounding, u)[0]

    cases = []
    for x in points:
        for k in bits:
            for scheme in ("forward", "central"):
                exact = float(expected_slope(x, k, h, rounding, scheme))
                value, se = stratified_slope(level, x, k, h, noise, scheme)
                ok = abs(exact - 1.0) <= ZERO_TOL and within(value, 1.0, se, z)
                note = f"{scheme}, r = {format_number(x)}"
                if se > 0:
                    note += f"; a slope of {REJECTABLE_SLOPE:g} is {abs(value - REJECTABLE_SLOPE) / se:.3g} SE from the estimate"
                cases.append(Case(label or f"r = {format_number(x)}", k, value, 1.0, ok, se=se, exact=exact, h=h, note=note))
    return cases


def randomized_rounding_row(rounding: str, points: Sequence[float], bits: Sequence[int], h: float, z: float,
                            noise: NDArray[np.float64]) -> AuditRow:
    """SR / DITHER: ``d/dr E[q(r)] = 1`` at every r, at fixed points (:func:`slope_cases`).

    Fed a deterministic rounding the same row measures slope 0 away from thresholds and ``Delta/h`` across
    one, and fails.
    """
    cases = slope_cases(rounding, points, bits, h, z, noise)
    verdict = verdict_all(cases)
    worst = max(cases, key=Case.deviation)
    weakest = max(cases, key=lambda c: c.se or 0.0)
    step = "SR" if rounding == "stochastic" else "DITHER" if rounding == "dither" else rounding
    what = _ROUNDING_TEXT.get(rounding, f"{rounding} rounding")
    return AuditRow(
        step, f"With {what}, d/dr E[quantize_k(r)] = 1 at every r.",
        verdict,
        conditional("For every r (unclipped): E[q(r)] = r exactly.", cases, verdict),
        f"Forward and central differences (h = {h:g}) of E[q] at {'; '.join(point_kind(x, bits) for x in points)}: "
        "exact finite sums over the rounding's outcomes, and a stratified Monte Carlo mean over "
        f"{noise.size:,} draws of the noise ({noise.shape[0]} replicates) shared between both ends: "
        f"{sum(c.passed for c in cases)} of {len(cases)} cases equal 1 (exact) and lie within {z:g} SE of 1 "
        f"(Monte Carlo); farthest k={worst.k} {worst.note.split(';')[0]}: "
        f"{pm_text(worst.value, worst.se, worst.exact)}. The largest SE, {weakest.se:.2g} ({weakest.label} "
        f"k={weakest.k}), puts a slope of {REJECTABLE_SLOPE:g} at {(1 - REJECTABLE_SLOPE) / (weakest.se or math.inf):.3g} SE from 1."
        + (" With the same noise U, dither round(s + U - 1/2) equals stochastic rounding floor(s + U) except at ties, "
           "so the two rows share their Monte Carlo numbers." if rounding == "dither" else ""),
        f"a case holds when the exact finite sum equals 1 (within 1e-9) and the estimate is within {z:g} SE of 1.",
        "d/dr E[q(r)] by finite differences", tuple(cases),
    )


_FAMILIES: Final = {"norm": "normal", "logistic": "logistic", "laplace": "laplace", "uniform": "uniform", "t": "t"}


def location_scale(spec: str) -> tuple[Family, float, float]:
    """``(family, centre, sd)`` of a symmetric location-scale input (normal, logistic, Laplace, uniform, t).

    Raises :class:`ConfigError` for any other input (the Fourier row needs a closed-form characteristic
    function: :class:`stecheck.claims.phase.map.Family`).
    """
    parts = parse_input(spec).dist.parts()
    part = parts[0][1] if len(parts) == 1 else None
    name = _FAMILIES.get(part.rv.dist.name) if isinstance(part, Continuous) else None
    if name is None or part is None or not isinstance(part, Continuous):
        raise ConfigError(f"the Fourier row needs a normal, logistic, laplace, uniform or t input, got {spec!r}")
    df = float(part.rv.args[0]) if name == "t" else None
    if df is not None and df <= 2:
        raise ConfigError(f"the Fourier row needs t(df) with df > 2 (a finite standard deviation), got {spec!r}")
    return Family(name, df), float(part.rv.mean()), float(part.rv.std())


def fourier_prediction(spec: str, k: int, h: float) -> tuple[float, float]:
    """Fourier prediction of ``E[D_h] - 1`` at step ``h`` and its ``h -> 0`` limit ``2 sum (-1)^l Re phi(2 pi l)``.

    Evaluated by :func:`stecheck.claims.phase.map.fourier_sums` on ``s = L r`` (sigma_s = L sd, offset ``L centre mod 1``,
    ``eta = L h``): ``E[D_eta] = 1 + 2 sum_{l>=1} (-1)^l Re[phi(2 pi l) (e^{2 pi i l eta} - 1) / (2 pi i l eta)]``,
    which tends to ``1 + 2 sum_{l>=1} (-1)^l Re phi(2 pi l)`` (Sripad and Snyder 1977; THEORY.md).
    """
    family, centre, sd = location_scale(spec)
    scale = levels(k)
    offset = (scale * centre) % 1.0
    finite, _ = fourier_sums(family, scale * sd, offset, scale * h)
    limit, _ = fourier_sums(family, scale * sd, offset, 0.0)
    return float(finite[0]) - 1.0, float(limit[0]) - 1.0


def fourier_decides(spec: str, k: int) -> bool:
    """Whether the cell ``(spec, k)`` can decide row F: its predicted ``h -> 0`` error is at least :data:`FOURIER_FLOOR`."""
    return abs(fourier_prediction(spec, k, 0.0)[1]) >= FOURIER_FLOOR


def fourier_row(records: RecordIndex, inputs: Sequence[str], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """F: for smooth inputs ``lim_{h->0} E[D_h] - 1 = 2 sum_{l>=1} (-1)^l Re phi(2 pi l)`` (the h -> 0 sum).

    Per (input, k) the limit is computed from the density at the thresholds,
    ``Delta sum_j p(t_j^-) - 1`` (:func:`stecheck.claims.audit.sums.density_limit`), and compared with the Fourier
    sum (:func:`fourier_prediction`, an independent evaluation through the characteristic function). Cells
    whose prediction is below :data:`FOURIER_FLOOR` are shown but not counted: there both sides are about 0
    whatever the series says. The Monte Carlo and exact ``E[D_h]`` at the audit's finite h are shown with
    the series at that h (the finite-h claim, a different number: its terms carry the factor
    ``(e^{2 pi i l L h} - 1) / (2 pi i l L h)``).
    """
    cases = []
    for spec in inputs:
        for k in bits:
            if levels(k) * h > 1.0:
                raise ConfigError(f"the Fourier row needs h <= 1/L: h = {h:g} at k = {k}")
            finite, limit = fourier_prediction(spec, k, h)
            measured = density_limit(spec, k) - 1.0
            rec = records[(spec, k, h)]
            counted = abs(limit) >= FOURIER_FLOOR
            ok = abs(measured - limit) <= LIMIT_TOL * max(1.0, abs(limit))
            note = (f"h -> 0; at h = {h:g}: Monte Carlo E[D_h] - 1 = {pm_text(rec['mean_fd'] - 1.0, rec['mean_fd_se'])}, "
                    f"exact {rec['exact_mean_fd'] - 1.0:.4g}, series at h {finite:.4g}")
            if not counted:
                note += f"; prediction below {FOURIER_FLOOR:g}: not counted"
            cases.append(Case(spec, k, measured, limit, ok, exact=measured, note=note, counted=counted))
    if not any(c.counted for c in cases):
        raise ConfigError(f"the Fourier row needs a smooth input whose predicted h -> 0 error is at least {FOURIER_FLOOR:g} "
                          "at one of the bit widths (none is): add k = 1 or 2, or a narrower input")
    verdict = verdict_all(cases)
    decisive = [c for c in cases if c.counted]
    big = max(decisive, key=lambda c: abs(c.target))
    worst = max(decisive, key=lambda c: abs(c.value - c.target))
    left = len(cases) - len(decisive)
    return AuditRow(
        "F", "For smooth inputs the h -> 0 limit of the error of E[D_h] against 1 is the Fourier sum "
        "2 sum_{l>=1} (-1)^l Re phi(2 pi l) (phi: characteristic function of L r; normal: "
        "exp(2 pi i l mu_s - 2 pi^2 l^2 sigma_s^2)).",
        verdict,
        conditional("For inputs whose density is continuous at the thresholds (at a jump the Fourier sum gives the "
                    "average of the one-sided densities, the forward difference the left one).", cases, verdict),
        f"lim_{{h->0}} E[D_h] - 1 computed from the density at the thresholds, Delta sum_j p(t_j^-) - 1, against the "
        f"Fourier sum in {len(decisive)} cells whose prediction is at least {FOURIER_FLOOR:g}"
        + (f" ({left} more below it shown, not counted)" if left else "")
        + f": largest prediction {big.label} k={big.k}: {big.target:.6g}, density sum {big.value:.6g}; largest gap "
        f"{abs(worst.value - worst.target):.2g} ({worst.label} k={worst.k}). At the finite step h = {h:g} the "
        f"Monte Carlo measures E[D_h], which the series at that step predicts ({big.label} k={big.k}: {big.note.split('; ', 1)[1]}).",
        f"a case counts when the predicted limit is at least {FOURIER_FLOOR:g} in absolute value, and holds when the "
        f"density sum equals the Fourier sum within {LIMIT_TOL:g} (relative).",
        "lim E[D_h] - 1 vs Fourier sum", tuple(cases),
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


def uniform_level(z: float) -> float:
    """The KS p-value below which a tensor's n is taken as not uniform: the two-sided normal tail at ``z``,
    ``erfc(z / sqrt 2)`` (5.7e-7 at z = 5), so the premise is rejected only on evidence as strong as a verdict's."""
    return math.erfc(z / math.sqrt(2.0))


def _weights_premise_case(rec: Record, z: float) -> Case:
    """Row 8'W's case of one tensor: counted when its n passes the KS test of Uniform[-1/2, 1/2] at
    :func:`uniform_level`; the case holds when E[n] is within z SE of 0."""
    case = _weights_mean_case(rec, z)
    p = rec["ks_pvalue"]
    uniform = p is not None and p >= uniform_level(z)
    premise = (f"premise {'true' if uniform else 'false'}: KS = {rec['ks_stat']:.3g} (p = {p:.2g})" if p is not None
               else "premise undecided: no KS p-value")
    note = f"{premise}; {case.note}" + ("" if uniform else f"; not counted; E[n] = 0: {case.passed}")
    return replace(case, note=note, counted=uniform)


def weights_mean_zero_row(records: Sequence[Record], bits: Sequence[int], h: float, z: float) -> AuditRow:
    """(8') on real weights: "if n is uniform, E(n) = 0", judged on the tensors (DoReFa transform) whose n is uniform.

    The premise is the KS test of each tensor's n against Uniform[-1/2, 1/2] (p-value at least
    :func:`uniform_level`); on those tensors E[n] must be within z SE of 0. A tensor's E[n] is exact (the
    tensor is the population); the standard error ``sqrt(Var(n) / size)`` asks whether the weights could be a
    sample from an input with E[n] = 0 (THEORY.md, Monte Carlo versus exact). Tensors whose n is not uniform
    are shown, not counted, and reported apart: their E[n] is often 0 too (weights symmetric about a level
    or a threshold).
    """
    cases = [_weights_premise_case(rec, z) for rec in _weight_cells(records, bits, h)]
    premise = [c for c in cases if c.counted]
    aside = [c for c in cases if not c.counted]
    zero_anyway = [c for c in aside if c.passed]
    tensors = len({c.label for c in cases})
    apart = (f" Apart from the premise: E[n] = 0 within {z:g} SE also in {len(zero_anyway)} of {len(aside)} (tensor, k) "
             "cells where n is not uniform." if aside else "")
    claim = "E(n) = 0 for real weights, under the assumption that n is uniform (DoReFa weight transform)."
    rule = (f"an implication judged on the (tensor, k) cells whose n passes the KS test of uniformity (p >= "
            f"{uniform_level(z):.2g}, the two-sided tail at z = {z:g}): it fails when one has E[n] more than {z:g} SE "
            "(of a sample of its size) from 0.")
    if not premise:
        return AuditRow(
            "8'W", claim, "holds", "Vacuously: n is uniform in no tensor here, so nothing can refute the step.",
            f"n is not uniform (KS) in all {len(cases)} cells of {tensors} tensors at k = {bits_text(c.k for c in cases)}.{apart}",
            rule, "E[n] of a tensor given n uniform", tuple(cases),
        )
    verdict = verdict_implication(premise)
    worst = max(premise, key=Case.deviation)
    return AuditRow(
        "8'W", claim,
        verdict,
        "The implication is true on these weights: where n is uniform, E(n) = 0." if verdict == "holds" else
        "A tensor whose n passes the uniformity test has E(n) != 0: uniformity by KS does not give a zero mean.",
        f"n uniform (KS) in {len(premise)} of {len(cases)} cells of {tensors} tensors at k = {bits_text(c.k for c in cases)}; "
        f"{sum(c.passed for c in premise)} of them within {z:g} SE of 0; farthest {worst.label} k={worst.k}: "
        f"{pm_text(worst.value, worst.se)} ({worst.note}).{apart}",
        rule, "E[n] of a tensor given n uniform", tuple(cases),
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
        f"{pm_text(far.value, far.se)} ({far.note}).",
        f"an implication: it fails when any tensor with E[n] = 0 has E[D_h] more than {z:g} SE (of a sample of "
        "its size) from 1.",
        "E[D_h] of a tensor given E[n] = 0", tuple(cases),
    )
