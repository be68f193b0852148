"""The plain-numpy way to get one cell's statistics: the baseline the engine is compared with.

Materialise all samples, then one pass per statistic: moments of n, ``scipy.stats.kstest`` and
``scipy.stats.chisquare`` against Uniform[-1/2, 1/2], ``|mean exp(2 pi i l n)|`` for l = 1..8, and for
every step h the finite differences evaluated with ``quantize_k`` at r + h (forward) and r +- h/2
(central). It is what a user without the engine would write; bench/engine_cost.py times it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

from stecheck.core.quantize import levels, quantize


def numpy_cell(r: np.ndarray, k: int, steps: Sequence[float], orders: int = 8, chi2_bins: int = 64) -> dict[str, Any]:
    """Every default statistic of one (unclipped, half-even) cell from the materialised inputs ``r``."""
    scale = levels(k)
    q = quantize(r, k)
    n = (q - r) * scale
    out: dict[str, Any] = {
        "mean_n": float(np.mean(n)),
        "var_n": float(np.var(n)),
        "m3": float(np.mean(n**3)),
        "m4": float(np.mean(n**4)),
        "ks": stats.kstest(n, stats.uniform(loc=-0.5, scale=1.0).cdf),
        "chi2": stats.chisquare(np.histogram(n, bins=chi2_bins, range=(-0.5, 0.5))[0]),
        "fourier_abs": [float(np.abs(np.mean(np.exp(2j * np.pi * l * n)))) for l in range(1, orders + 1)],
    }
    for h in steps:
        fwd = (quantize(r + h, k) - q) / h
        cen = (quantize(r + h / 2, k) - quantize(r - h / 2, k)) / h
        for name, d in (("forward", fwd), ("central", cen)):
            out[f"{name}_{h}"] = (float(d.mean()), float(d.std() / np.sqrt(d.size)), float(np.mean(d == 0)))
    return out
