"""One record of a Monte Carlo / exact cell: the field layout shared by every quantizer's cells."""

from __future__ import annotations

from typing import Any

from stecheck.core.distributions import InputSpec
from stecheck.core.estimators import ErrorSummary, FDPlan, SlopeSummary
from stecheck.records import Record

__all__ = ["cell_record"]


def cell_record(
    inp: InputSpec,
    quantizer: str,
    k: int | None,
    rounding: str,
    plan: FDPlan,
    seed: int,
    err: ErrorSummary | None,
    slope: SlopeSummary | None,
    moments: Any,
    exact_fd: float | None,
    exact_zero: float | None,
    exact_note: str | None,
    mean_fd_upper: float | None = None,
) -> Record:
    """The record of one (input, quantizer, k, rounding, scheme, h) cell.

    ``err`` and ``slope`` are the Monte Carlo summaries (None without a Monte Carlo part); ``moments`` the
    exact error moments (fields ``mean``, ``var``, ``fourier_abs``) or None; ``mean_fd_upper`` the one-sided
    bound reported when no crossing was seen (the slope summary's own when not given).
    """
    upper = mean_fd_upper if mean_fd_upper is not None or slope is None else slope.mean_fd_upper
    return {
        "dist": inp.spec,
        "path": inp.path,
        "quantizer": quantizer,
        "k": k,
        "rounding": rounding,
        "fd": plan.scheme,
        "h": plan.h,
        "samples": 0 if err is None else err.samples,
        "seed": str(seed),
        "mean_n": None if err is None else err.mean,
        "mean_n_se": None if err is None else err.mean_se,
        "var_n": None if err is None else err.var,
        "var_n_se": None if err is None else err.var_se,
        "var12_n": None if err is None else 12.0 * err.var,
        "p_n_zero": None if err is None else err.p_zero,
        "ks_stat": None if err is None else err.ks_stat,
        "ks_resolution": None if err is None else err.ks_resolution,
        "ks_pvalue": None if err is None else err.ks_pvalue,
        "chi2_stat": None if err is None else err.chi2_stat,
        "chi2_pvalue": None if err is None else err.chi2_pvalue,
        "fourier_abs": None if err is None else list(err.fourier_abs),
        "hist_n": None if err is None else list(err.hist),
        "mean_fd": None if slope is None else slope.mean_fd,
        "mean_fd_se": None if slope is None else slope.mean_fd_se,
        "mean_fd_upper": upper,
        "p_fd_zero": None if slope is None else slope.p_fd_zero,
        "ste": None if slope is None else slope.ste,
        "exact_mean_n": None if moments is None else moments.mean,
        "exact_var_n": None if moments is None else moments.var,
        "exact_fourier_abs": None if moments is None else list(moments.fourier_abs),
        "exact_mean_fd": exact_fd,
        "exact_p_fd_zero": exact_zero,
        "exact_note": exact_note,
    }
