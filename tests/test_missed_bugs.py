"""Tests for the bugs a planted-bug review found the suite let through (issue 13, "Tests that let a bug through").

Each test compares with a value computed here independently (scipy.stats.kstest, plain numpy sums,
direct evaluation of the quantizer), so a bug made identically in the fast and the reference path fails.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from stecheck.core.distributions import parse_input
from stecheck.core.estimators import HIST_BINS, CellAccumulator, make_plans
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.fastscan import MODE_ERRORS
from stecheck.core.kernel import accumulate_chunk
from stecheck.core.quantize import levels, quantize, round_scaled, rounding_error
from stecheck.engine.sampling import DRAW, chunk_rng, draw_chunk
from tests.conftest import SEED

BIN = 2.0 / HIST_BINS


def _errors(kind: str, size: int) -> np.ndarray:
    """Asymmetric errors on [-1/2, 1/2]: ECDF above the uniform CDF (``above``) or below it (``below``)."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    e = rng.beta(1.0, 1.6, size) - 0.5  # mass pushed to the left: ECDF above u (D+ dominates)
    return e if kind == "above" else -e


@pytest.mark.parametrize("kind", ["above", "below"])
@pytest.mark.parametrize("path", ["numpy", "scan"])
def test_ks_statistic_matches_scipy_on_asymmetric_samples(kind: str, path: str) -> None:
    """A one-sided statistic (max(ecdf - u) only) is far below scipy's for one of the two samples."""
    e = _errors(kind, 50_000)
    acc = CellAccumulator(make_plans(["forward"], [0.1], 1))
    if path == "numpy":
        acc.add_error(e)
    else:
        acc.add_scan(e, 1, MODE_ERRORS, crossings=False)
    summary = acc.error_summary()
    exact = stats.kstest(e, stats.uniform(-0.5, 1.0).cdf).statistic
    one_sided = stats.kstest(e, stats.uniform(-0.5, 1.0).cdf, alternative="greater" if kind == "below" else "less").statistic
    assert exact - one_sided > 10 * BIN  # the sample tells the one-sided statistic apart
    assert abs(summary.ks_stat - exact) <= BIN
    assert summary.ks_pvalue == pytest.approx(stats.kstwobign.sf(exact * math.sqrt(e.size)), rel=0.05, abs=1e-300)


def test_quantize_default_rounding_is_half_even_at_halfway_values() -> None:
    """quantize(0.5, 1) == 0 (0.5 rounds to the even 0), not 1 as half-up gives."""
    assert float(quantize(0.5, 1)) == 0.0
    assert float(quantize(1.5 / 3, 2)) == pytest.approx(2 / 3)  # L r = 1.5 -> 2 (even)
    assert float(quantize(2.5 / 3, 2)) == pytest.approx(2 / 3)  # L r = 2.5 -> 2 (even)
    assert float(round_scaled(np.array([0.5]))[0]) == 0.0
    assert float(rounding_error(0.5, 1)) == -0.5
    assert float(quantize(0.5, 1, rounding="half-up")) == 1.0


def test_chunk_streams_depend_on_the_chunk_index() -> None:
    """Every chunk draws its own samples: pairwise different and uncorrelated (Pearson r within 5 SE of 0)."""
    inp = parse_input("normal(0.5,0.15)")
    size = 20_000
    chunks = [draw_chunk(SEED, inp, c, size, 2) for c in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.any(chunks[i] == chunks[j])
            r = np.corrcoef(chunks[i], chunks[j])[0, 1]
            assert abs(r) <= 5 / math.sqrt(size)
    # and the purpose and bit width give streams of their own
    a = chunk_rng(SEED, inp, 0, DRAW).random(8)
    assert not np.array_equal(a, chunk_rng(SEED, inp, 0, DRAW + 1).random(8))
    assert not np.array_equal(a, chunk_rng(SEED, inp, 0, DRAW, 3).random(8))


def test_a_two_chunk_run_does_not_repeat_its_samples() -> None:
    """The engine's merged statistics over two chunks equal those of the two chunks' own, distinct draws."""
    from stecheck.engine.runner import simulate
    from stecheck.engine.sampling import CHUNK_SIZE

    inp = parse_input("uniform(0,1)")
    samples = CHUNK_SIZE + 1000
    rec = simulate("uniform(0,1)", bits=3, h=0.1, fd="forward", samples=samples, seed=SEED, method="mc")[0]
    x = np.concatenate([draw_chunk(SEED, inp, 0, CHUNK_SIZE, 3), draw_chunk(SEED, inp, 1, 1000, 3)])
    n = rounding_error(x, 3)
    assert rec["mean_n"] == pytest.approx(float(n.mean()), abs=1e-15)
    twice_first = np.concatenate([x[:CHUNK_SIZE], x[:1000]])
    assert rounding_error(twice_first, 3).mean() != pytest.approx(rec["mean_n"], abs=1e-15)


def test_phase_map_holds_at_equality() -> None:
    """``holds`` is ``worst_dev <= tolerance``: a deviation exactly equal to the tolerance holds."""
    from stecheck.claims.phase.run import map_records

    tol = 0.25
    cdf = np.array([[1.25, 1.0], [np.nextafter(1.25, 2.0), 1.0]])
    pm = SimpleNamespace(
        family=SimpleNamespace(name="normal"), eta=1.0, sigma=np.array([0.1, 0.2]), offset=np.array([0.0, 0.5]),
        mean_fd_cdf=cdf, mean_fd_fourier=cdf, mean_n_cdf=np.zeros((2, 2)), mean_n_fourier=np.zeros((2, 2)),
    )
    records = map_records(pm, tol)
    assert [r["holds"] for r in records] == [True, False]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("rounding", ["half-even", "half-up"])
def test_fourier_sums_anchored_to_a_plain_numpy_sum(fast: bool, rounding: str) -> None:
    """|mean exp(2 pi i l n)| against a direct sum, within the scan's stated binning bound."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    k = 2
    x = rng.normal(0.4, 0.05, 100_000)
    acc = accumulate_chunk(x, levels(k), rounding, False, make_plans(["forward"], [0.01], levels(k)), fast=fast)
    s = levels(k) * x
    n = round_scaled(s, rounding) - s
    orders = np.arange(1, FOURIER_ORDERS + 1)
    direct = np.abs(np.exp(2j * np.pi * orders[:, None] * n[None, :]).mean(axis=1))
    bound = (np.pi * orders * BIN) ** 2 / 2  # per-sample error of the binned sums (fastscan.binned_fourier_bound)
    assert np.all(np.abs(np.array(acc.error_summary().fourier_abs) - direct) <= bound + 1e-12)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_crossing_counts_anchored_to_direct_evaluation(fast: bool, clip: bool, scheme: str) -> None:
    """Sums of level changes ``round(L (x + hi)) - round(L (x + lo))``, evaluated here with numpy."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    k = 3
    scale = levels(k)
    x = rng.normal(0.45, 0.3, 50_000)
    steps = [0.7 / scale, 1.0 / scale + 0.01, 3.3 / scale]
    plans = make_plans([scheme], steps, scale)
    acc = accumulate_chunk(x, scale, "half-even", clip, plans, fast=fast)

    def level(v: np.ndarray) -> np.ndarray:
        return np.rint(scale * (np.clip(v, 0.0, 1.0) if clip else v))

    for i, h in enumerate(steps):
        lo, hi = (0.0, h) if scheme == "forward" else (-h / 2, h / 2)
        counts = (level(x + hi) - level(x + lo)).astype(np.int64)
        assert acc.fd_sum[i] == int(counts.sum())
        assert acc.fd_sumsq[i] == int((counts * counts).sum())
        assert acc.fd_zero[i] == int(np.count_nonzero(counts == 0)) or plans[i].parts()[0] > 0
