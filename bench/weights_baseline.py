"""The plain per-tensor numpy + scipy computation of the `stecheck weights` statistics.

The reference the fast scan is checked against (tests) and timed against (bench/weights_speed.py): the
whole tensor in memory, every statistic computed directly from its definition for each k, KS by
``scipy.stats.kstest`` (exact distribution up to 1000 weights, Kolmogorov's limit above), every Fourier
coefficient by its own complex exponential, E[D_h] from the per-weight crossing counts of identity A.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from stecheck.core.estimators import FDPlan, crossing_counts
from stecheck.core.quantize import dorefa_weight_transform, quantize


def transform(w: np.ndarray, name: str) -> np.ndarray:
    """r in [0, 1] from the weights, by definition."""
    w = np.asarray(w, dtype=np.float64).ravel()
    if name == "dorefa":
        return dorefa_weight_transform(w)
    if name == "absmax":
        return w / (2 * np.max(np.abs(w))) + 0.5
    return (w - w.min()) / (w.max() - w.min())


def plain_statistics(w: np.ndarray, bits, steps, name: str = "dorefa") -> dict[int, dict]:
    """``{k: {mean_n, var_n, ks_stat, ks_pvalue, fourier_abs, mean_fd, sqnr_db, sqnr_uniform_db, nonfinite}}``."""
    w = np.asarray(w, dtype=np.float64).ravel()
    finite = np.isfinite(w)
    w = w[finite]
    r = transform(w, name)
    out = {}
    for k in bits:
        L = 2**k - 1
        s = L * r
        n = np.rint(s) - s
        q = quantize(r, k)
        ks = stats.kstest(n, "uniform", args=(-0.5, 1.0), method="exact" if n.size <= 1000 else "asymp")
        out[k] = {
            "mean_n": float(np.mean(n)),
            "var_n": float(np.var(n)),
            "ks_stat": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "fourier_abs": [float(abs(np.mean(np.exp(2j * np.pi * l * n)))) for l in range(1, 9)],
            "mean_fd": [float(np.mean(crossing_counts(n, FDPlan("forward", h, L))) / (L * h)) for h in steps],
            "sqnr_db": float(10 * np.log10(np.var(r) / np.mean((q - r) ** 2))),
            "sqnr_uniform_db": float(10 * np.log10(12 * L**2 * np.var(r))),
            "nonfinite": int(finite.size - finite.sum()),
        }
    return out
