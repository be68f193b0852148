"""The exact per-tensor statistics: chunking, the 16-bit path, KS refinement, Fourier sums, edge cases."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from scipy import stats

import stecheck.weights.stats as wstats
from stecheck.core.quantize import dorefa_weight_transform, rounding_error
from stecheck.weights import scan
from stecheck.weights.scan import AGGREGATE
from stecheck.weights.stats import (
    TAYLOR_BINS, TAYLOR_MAX_FREQ, TAYLOR_ORDER, Extent, _taylor_moments, ks_from_sorted, make_transform,
    rounding_errors, taylor_fourier_sums, tensor_statistics,
)
from stecheck.weights.tensors import TensorRef, array_reader
from tests.conftest import SEED, SEED_B
from tests.weights_fixtures import plain_statistics, weights_like

BITS = (1, 2, 3, 5, 8, 10)
STEPS = (1e-3, 0.3)
KEYS = ("mean_n", "var_n", "ks_stat", "ks_pvalue", "sqnr_db", "sqnr_uniform_db", "fourier_abs", "mean_fd")


def chunked(values: np.ndarray, size: int):
    return lambda: ((values[i:i + size], None) for i in range(0, values.size, size))


def max_gap(st, ref) -> float:
    return max(float(np.max(np.abs(np.subtract(getattr(st.per_bits[k], key), ref[k][key])))) for k in ref for key in KEYS)


@pytest.mark.parametrize("transform", ["dorefa", "absmax", "minmax"])
def test_chunked_two_pass_scan_equals_plain(monkeypatch, transform) -> None:
    rng = np.random.default_rng(SEED)
    w = weights_like(rng, (60_000,)).astype(np.float64)
    w[::97] = 0.0  # exact zeros: with dorefa and absmax r = 1/2 is a threshold, n = +-1/2 exactly (ties)
    ref = plain_statistics(w, BITS, STEPS, transform)
    monkeypatch.setattr(wstats, "KEEP_LIMIT", 0)  # force pass 2 to re-read the chunks
    st = tensor_statistics(chunked(w, 7_000), BITS, STEPS, transform)
    assert max_gap(st, ref) < 1e-9
    assert st.count == w.size and st.nonfinite == 0 and not st.degenerate


@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2])
def test_eight_and_sixteen_bit_tensors_scan_their_distinct_values(dtype: type) -> None:
    """A tensor of an 8- or 16-bit float type is scanned as its distinct values with their counts: the same
    statistics as every value one by one. float8_e4m3fn has no infinities (they become NaN)."""
    rng = np.random.default_rng(SEED_B)
    with np.errstate(over="ignore", invalid="ignore"):
        w = (weights_like(rng, (300, 700)) * (8.0 if np.dtype(dtype).itemsize == 1 else 1.0)).astype(dtype)
        w.reshape(-1)[:5] = np.array([np.nan, np.inf, -np.inf, 0, 0]).astype(dtype)
    tensor = TensorRef("w", w.shape, w.dtype, array_reader(w))
    values, counts = tensor.distinct_values(chunk=50_000)
    assert counts.sum() == w.size and values.size <= 1 << (8 * w.dtype.itemsize)
    assert np.array_equal(np.sort(np.unique(w.view(f"u{w.dtype.itemsize}"))), values.view(f"u{w.dtype.itemsize}"))
    st = tensor_statistics(lambda: tensor.chunks(50_000), BITS, STEPS)
    ref = plain_statistics(w.astype(np.float64), BITS, STEPS)
    assert st.nonfinite == 3 and st.count == w.size - 3
    assert max_gap(st, ref) < 1e-9


@pytest.mark.parametrize("unsigned", [np.uint8, np.uint16])
def test_pattern_counts_are_numpys_bincount(unsigned: type) -> None:
    """The compiled count of bit patterns (float8, float16 and bfloat16 tensors) is ``numpy.bincount``'s, the
    extreme patterns included, added to what the table held; a table of another length is refused."""
    from stecheck.core.weightscan import count_patterns

    size = 1 << (8 * np.dtype(unsigned).itemsize)
    rng = np.random.default_rng(SEED_B)
    patterns = np.concatenate([rng.integers(0, size, 100_000), [0, size - 1, size - 1]]).astype(unsigned)
    counts = np.arange(size, dtype=np.int64)
    count_patterns(patterns, counts)
    assert np.array_equal(counts, np.arange(size) + np.bincount(patterns, minlength=size))
    for wrong in (size - 1, size + 1):
        with pytest.raises(ValueError, match="one entry per bit pattern"):
            count_patterns(patterns, np.zeros(wrong, dtype=np.int64))


def test_dorefa_transform_is_the_quantize_module_one() -> None:
    w = weights_like(np.random.default_rng(SEED), (5000,)).astype(np.float64)
    extent = wstats.scan_extent([(w, None)])
    assert np.array_equal(make_transform("dorefa", extent)(w), dorefa_weight_transform(w))
    for k in (1, 4, 8):
        assert np.array_equal(rounding_errors(dorefa_weight_transform(w), 2**k - 1), rounding_error(dorefa_weight_transform(w), k))


@pytest.mark.parametrize("transform", [np.fft.fft, np.fft.rfft])
def test_taylor_fourier_sums_equal_direct_exponentials(transform) -> None:
    rng = np.random.default_rng(SEED)
    r = rng.beta(2, 5, size=20_000)
    c = rng.integers(1, 5, size=r.size).astype(np.float64)
    moments = np.zeros((TAYLOR_ORDER + 1, TAYLOR_BINS))
    _taylor_moments(r, c, moments)
    freqs = [1, 3, 7, 255, 1020, TAYLOR_MAX_FREQ]
    got = taylor_fourier_sums(transform(moments, axis=1), freqs)
    want = [np.dot(c, np.exp(-2j * np.pi * m * r)) for m in freqs]
    assert np.max(np.abs(got - want)) / c.sum() < 1e-12


def test_ks_from_sorted_with_weights_and_ties_equals_scipy() -> None:
    rng = np.random.default_rng(SEED)
    x = np.round(rng.uniform(-0.5, 0.5, size=3000), 2)  # many ties
    values, counts = np.unique(x, return_counts=True)
    d = ks_from_sorted(values, counts.astype(np.float64), None, float(x.size))
    assert d == pytest.approx(stats.kstest(x, "uniform", args=(-0.5, 1.0)).statistic, abs=1e-14)


def test_nonfinite_weights_are_counted_and_excluded() -> None:
    w = weights_like(np.random.default_rng(SEED), (4000,)).astype(np.float64)
    dirty = np.concatenate([w, [np.nan, np.inf, -np.inf]])
    st = tensor_statistics(chunked(dirty, 1000), BITS, STEPS)
    assert st.nonfinite == 3 and st.count == w.size
    assert max_gap(st, plain_statistics(w, BITS, STEPS)) < 1e-9


@pytest.mark.parametrize("values", [np.zeros(64), np.full(64, 0.25), np.array([np.nan] * 4), np.zeros(0)])
def test_degenerate_tensors_are_reported_not_a_crash(values) -> None:
    for transform in ("dorefa", "absmax", "minmax"):
        st = tensor_statistics(lambda: [(values, None)], BITS, STEPS, transform)
        assert st.degenerate and not st.per_bits
    tensors = [TensorRef("flat", (8, 8), np.dtype(np.float64), array_reader(np.zeros((8, 8))))]
    records = scan("test", tensors, (2,), (1e-3,))
    tensor_rec = records[0]
    assert tensor_rec["degenerate"] is True and tensor_rec["mean_fd"] is None and tensor_rec["claim_holds"] is None


def test_aggregate_rows_are_size_weighted_and_smallest_k_is_the_first_holding() -> None:
    rng = np.random.default_rng(SEED)
    arrays = {"grid": np.linspace(-1, 1, 20_000).reshape(200, 100), "narrow": weights_like(rng, (40, 30), 0.01).astype(np.float64)}
    tensors = [TensorRef(n, a.shape, a.dtype, array_reader(a)) for n, a in arrays.items()]
    records = scan("test", tensors, (1, 2, 4, 8), (0.05,), "absmax")
    aggregate = [r for r in records if r["tensor"] == AGGREGATE]
    assert [r["k"] for r in aggregate] == [1, 2, 4, 8]
    for agg in aggregate:
        rows = [r for r in records if r["kind"] == "tensor" and r["k"] == agg["k"]]
        sizes = np.array([r["size"] for r in rows], dtype=np.float64)
        assert agg["mean_fd"] == pytest.approx(np.average([r["mean_fd"] for r in rows], weights=sizes))
        assert agg["var_n"] == pytest.approx(np.average([r["var_n"] for r in rows], weights=sizes))
        assert agg["share_holds"] == pytest.approx(np.mean([r["claim_holds"] for r in rows]))
        assert agg["size"] == sizes.sum()
    for name in arrays:
        rows = [r for r in records if r["tensor"] == name]
        holding = [r["k"] for r in rows if r["claim_holds"]]
        assert all(r["smallest_k_holds"] == (holding[0] if holding else None) for r in rows)
        for r in rows:
            assert r["claim_holds"] == (abs(r["mean_fd"] - 1) <= 0.05 and abs(12 * r["var_n"] - 1) <= 0.05)
    # an even grid with absmax gives evenly spread r, so n is uniform up to O(1/N) and the claim holds at k = 1
    assert next(r for r in records if r["tensor"] == "grid")["smallest_k_holds"] == 1


def test_uniform_tensor_has_uniform_error_to_within_sampling_error() -> None:
    """A large uniform 'tensor' is a sample of an input whose n is uniform: 12 Var(n) = 1 within z = 5 SE."""
    n_weights = 400_000
    w = np.random.default_rng(SEED).uniform(-1, 1, n_weights)
    st = tensor_statistics(chunked(w, 1 << 16), (3, 6), (1e-3,), "absmax")
    for b in st.per_bits.values():
        se_var = math.sqrt((1 / 80 - 1 / 144) / n_weights)  # Var(n^2) = E n^4 - (E n^2)^2 for uniform n
        assert abs(b.var_n - 1 / 12) < 5 * se_var
        assert abs(b.mean_n) < 5 * math.sqrt(1 / 12 / n_weights)
        assert max(b.fourier_abs) < 5 / math.sqrt(n_weights)
        assert b.ks_pvalue > 1e-6
        assert b.sqnr_db == pytest.approx(b.sqnr_uniform_db, abs=0.05)


def test_extent_amax() -> None:
    assert Extent(3, 0, -2.0, 1.0).amax == 2.0
