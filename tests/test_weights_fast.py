"""The compiled weights scan (stecheck.weights.fast) against the numpy reference path, bit for bit.

Every field of every bit width must be the same float64 (compared by bit pattern, so -0.0 and 0.0 differ)
on random tensors (hypothesis): tiny ones, tensors of one value or a few repeated values, non-finite
values, 16-bit tensors scanned as distinct values with multiplicities, every transform, chunkings, and
the large-tensor path (KS histogram and its bounded refinement, Taylor-grid Fourier sums) with its
memory limits shrunk so that every branch of the refinement runs. The building blocks are checked
against independent definitions: numpy's own ``sum`` order, libm's cos/sin, scipy's KS statistic.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import stecheck.weights.fast as fast
import stecheck.weights.stats as wstats
from stecheck.core import weightscan
from stecheck.weights.stats import TRANSFORMS, tensor_statistics
from stecheck.weights.tensors import TensorRef, array_reader
from tests.conftest import SEED, SEED_B
from tests.weights_fixtures import weights_like

BITS = (1, 2, 3, 4, 5, 6, 7, 8, 10)
STEPS = (1e-3, 0.3, 2.0)


def bits_of(value: Any) -> Any:
    """Floats as their IEEE bit patterns (recursively), so equality is equality of bytes."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, (tuple, list)):
        return [bits_of(v) for v in value]
    if isinstance(value, dict):
        return {k: bits_of(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {f: bits_of(getattr(value, f)) for f in value.__dataclass_fields__}
    return value


def chunked(values: np.ndarray, size: int, weights: np.ndarray | None = None):
    return lambda: ((values[i:i + size], None if weights is None else weights[i:i + size]) for i in range(0, max(values.size, 1), size))


def assert_same(chunks, bits=BITS, steps=STEPS, transform="dorefa") -> wstats.TensorStatistics:
    ref = tensor_statistics(chunks, bits, steps, transform, fast=False)
    got = tensor_statistics(chunks, bits, steps, transform, fast=True)
    assert bits_of(got) == bits_of(ref)
    return got


finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
special = st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 1e-300, -5e-324, 0.5, 1.0, -1.0])
values = st.one_of(finite, special)


@settings(max_examples=150, deadline=None)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 300), elements=values),
    chunk=st.integers(1, 400),
    transform=st.sampled_from(TRANSFORMS),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_compiled_path_equals_reference_on_small_tensors(w, chunk, transform, dtype) -> None:
    with np.errstate(over="ignore"):
        w = w.astype(dtype)
    assert_same(chunked(w, chunk), transform=transform)


@settings(max_examples=60, deadline=None)
@given(
    level=st.floats(-2, 2, allow_nan=False),
    others=hnp.arrays(np.float64, st.integers(0, 5), elements=values),
    repeat=st.integers(1, 2000),
    transform=st.sampled_from(TRANSFORMS),
)
def test_one_value_and_few_repeated_values(level, others, repeat, transform) -> None:
    # a tensor of one value is degenerate; a few values repeated many times make ties in n everywhere
    w = np.concatenate([np.full(repeat, level), others, np.full(repeat // 3, level)])
    st_ = assert_same(chunked(w, 512), transform=transform)
    finite_values = w[np.isfinite(w)]
    assert st_.degenerate == (finite_values.size == 0 or finite_values.min() == finite_values.max())


@settings(max_examples=40, deadline=None)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 3000), elements=st.one_of(st.floats(-0.3, 0.3, width=64), special)),
    dtype=st.sampled_from([ml_dtypes.bfloat16, np.float16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2]),
)
def test_eight_and_sixteen_bit_tensors_as_distinct_values(w, dtype) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        w = w.astype(dtype)
    tensor = TensorRef("w", w.shape, w.dtype, array_reader(w))
    assert_same(tensor.chunks)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_large_tensor_path_equals_reference(transform) -> None:
    # above SORT_MAX values (KS histogram and refinement) and DIRECT_FOURIER_MAX (Taylor grid), in chunks
    rng = np.random.default_rng(SEED)
    w = weights_like(rng, (90_000,)).astype(np.float32)
    w[::97] = 0.0  # exact zeros: r = 1/2 is a rounding threshold for dorefa and absmax, ties in n
    w[5] = np.nan
    w[7] = np.inf
    assert w.size > fast.SORT_MAX and w.size > wstats.DIRECT_FOURIER_MAX
    got = assert_same(chunked(w, 20_000), transform=transform)
    assert got.nonfinite == 2


def test_refinement_under_tiny_memory_limits_and_rereading(monkeypatch) -> None:
    # gathering and splitting over several passes, and pass 2 re-reading the chunks instead of keeping them
    monkeypatch.setattr(wstats, "KEEP_LIMIT", 0)
    monkeypatch.setattr(wstats, "GATHER_LIMIT", 64)
    monkeypatch.setattr(wstats, "SPLIT_BINS", 1 << 17)
    rng = np.random.default_rng(SEED_B)
    w = np.concatenate([weights_like(rng, (70_000,)), np.repeat(rng.standard_normal(40) * 0.05, 300)])
    assert_same(chunked(w, 30_000), bits=(1, 3, 8), steps=(1e-3,))


def test_sixteen_bit_tensor_above_the_direct_fourier_size() -> None:
    rng = np.random.default_rng(SEED)
    w = weights_like(rng, (400, 300)).astype(ml_dtypes.bfloat16)
    tensor = TensorRef("w", w.shape, w.dtype, array_reader(w))
    assert_same(lambda: tensor.chunks(50_000))


@settings(max_examples=200, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(0, 5000), elements=st.floats(-1e6, 1e6, width=64)))
def test_pairwise_sum_is_numpys_order(x) -> None:
    assert struct.pack("<d", weightscan.pairwise_sum(x)) == struct.pack("<d", float(x.sum()))


def test_pairwise_sum_at_block_and_split_boundaries() -> None:
    rng = np.random.default_rng(SEED)
    for size in [*range(1, 300), 1023, 1024, 1025, 8191, 8192, 8193, 262_143, 262_144, 262_145]:
        x = rng.standard_normal(size) * np.exp(rng.uniform(-30, 30, size))
        assert struct.pack("<d", weightscan.pairwise_sum(x)) == struct.pack("<d", float(x.sum())), size


def test_unit_phasor_within_a_few_ulps_of_libm() -> None:
    n = np.concatenate([np.random.default_rng(SEED).uniform(-0.5, 0.5, 200_000), [-0.5, 0.5, 0.0, -0.0, 1e-300, 0.25]])
    c, s = weightscan.unit_phasor(n)
    exact_c = np.array([math.cos(2 * math.pi * v) for v in n])
    exact_s = np.array([math.sin(2 * math.pi * v) for v in n])
    assert np.max(np.abs(c - exact_c)) < 2e-15 and np.max(np.abs(s - exact_s)) < 2e-15


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float64, st.integers(2, 700), elements=st.floats(-1, 1, width=64)), k=st.integers(1, 12))
def test_sorted_ks_is_scipys_statistic(w, k) -> None:
    r = np.sort(w) * 0.5 + 0.5  # in [0, 1]
    scale = 2.0**k - 1
    n = np.rint(r * scale) - r * scale
    expected = stats.kstest(n, "uniform", args=(-0.5, 1.0), method="exact").statistic
    got = weightscan.ks_sorted(r, np.ones(1, dtype=np.int64), False, scale, float(r.size))
    assert got == pytest.approx(expected, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    w=hnp.arrays(np.float64, st.integers(1, 700), elements=st.one_of(st.floats(-1, 1, width=64), st.sampled_from([-1.0, -0.0, 0.0, 0.5, 1.0, 1 / 3]))),
    counts=st.integers(1, 5), weighted=st.booleans(),
)
def test_bucket_sorted_ks_of_every_width_is_scipys_statistic(w, counts, weighted) -> None:
    """:func:`weightscan.ks_small` (bucket sort, crowded buckets by numpy's sort) against scipy's exact KS
    statistic of the errors, weights expanded to repeated values; ties and few distinct values included."""
    r = w * 0.5 + 0.5
    mult = np.random.default_rng(SEED + r.size).integers(1, counts + 1, r.size) if weighted else np.ones(r.size, dtype=np.int64)
    scales = np.array([1, 3, 15, 255, 4095], dtype=np.int64)
    out = np.empty(scales.size)
    m = r.size
    scratch = (np.empty(m), np.empty(m, dtype=np.int64), np.empty(m), np.empty(m, dtype=np.int64), np.empty(m + 1, dtype=np.int64))
    weightscan.ks_small(r, mult, weighted, scales, float(mult.sum()), out, *scratch)
    for d, scale in zip(out, scales.astype(np.float64)):
        n = np.repeat(np.rint(r * scale) - r * scale, mult)
        assert d == pytest.approx(stats.kstest(n, "uniform", args=(-0.5, 1.0), method="exact").statistic, abs=1e-15)


def test_chunk_extent_counts_weighted_and_nonfinite() -> None:
    acc = np.array([0.0, 0.0, math.inf, -math.inf])
    bad = weightscan.chunk_extent(np.array([1.0, np.nan, -3.0, np.inf]), np.array([2, 5, 1, 7], dtype=np.int64), True, acc)
    assert bad == 2 and acc.tolist() == [3.0, 12.0, -3.0, 1.0]


@pytest.mark.parametrize("count,grid", [(10, 0), (1000, 0), (300_000, 0), (300_000, 7), (70_000, 255)])
def test_compiled_ks_start_equals_the_numpy_refinement_start(count: int, grid: int) -> None:
    """The open bins, their weights and bounds, and the lower bound of D: the same floats as the numpy start."""
    from types import SimpleNamespace

    rng = np.random.Generator(np.random.PCG64(SEED))
    n = rng.random(count) - 0.5
    if grid:  # point masses: few full bins, ties
        n = np.round((n + 0.5) * grid) / grid - 0.5
    hist = np.bincount(((n + 0.5) * wstats._KS_SCALE).astype(np.intp), minlength=wstats.KS_BINS).astype(np.float64)
    want = wstats._KSRefinement(SimpleNamespace(scale=15, hist=hist), float(count))
    got = fast._ks_state(15, hist, float(count))
    for name in ("before", "count", "upper", "bins"):
        np.testing.assert_array_equal(getattr(got.open, name), getattr(want.open, name), err_msg=name)
    assert bits_of(got.best) == bits_of(want.best) and got.open.count.size > 0


def _kernel_calls(r: np.ndarray, size: int) -> dict[str, Any]:
    """Each kernel that indexes a table by a value of ``r``, called on ``r`` with scratch of ``size`` values."""
    scales = np.array([1, 3], dtype=np.int64)
    no_weights = np.ones(1, dtype=np.int64)
    ks_scale = float(wstats._KS_SCALE)
    return {
        "bit_sums": lambda: weightscan.bit_sums(r, no_weights, False, scales, np.full((2, 1), 0.5), np.zeros(2, dtype=bool),
                                                np.zeros((2, wstats.KS_BINS)), True, ks_scale, np.zeros((2, 3))),
        "taylor_moments": lambda: weightscan.taylor_moments(
            r, no_weights, False, wstats.TAYLOR_BINS, wstats.TAYLOR_ORDER, np.empty(size, dtype=np.int64), np.empty(size), np.empty(size),
            np.empty(wstats.TAYLOR_BINS + 1, dtype=np.int64), np.zeros((wstats.TAYLOR_ORDER + 1, wstats.TAYLOR_BINS))),
        "ks_small": lambda: weightscan.ks_small(r, no_weights, False, scales, float(r.size), np.empty(2), np.empty(size),
                                                np.empty(size, dtype=np.int64), np.empty(size), np.empty(size, dtype=np.int64),
                                                np.empty(size + 1, dtype=np.int64)),
        "candidates": lambda: weightscan.candidates(r, 3.0, ks_scale, np.ones(wstats.KS_BINS, dtype=np.uint8), np.zeros(1), np.zeros(1), True,
                                                    np.empty(size), np.empty(size), np.empty(size, dtype=np.int64)),
    }


@pytest.mark.parametrize("kernel", ["bit_sums", "taylor_moments", "ks_small", "candidates"])
def test_kernels_refuse_what_would_index_outside_their_tables(kernel: str) -> None:
    """numba does not check bounds: a kernel that picks a bin by a value refuses a non-finite value (and a too
    short scratch array) with a ValueError instead of writing outside its tables; valid input passes."""
    r = np.linspace(0.0, 1.0, 1000)
    _kernel_calls(r, r.size)[kernel]()  # the valid call
    for bad in (np.nan, np.inf, -np.inf):
        r_bad = r.copy()
        r_bad[500] = bad
        with pytest.raises(ValueError, match="finite"):
            _kernel_calls(r_bad, r.size)[kernel]()
    if kernel != "bit_sums":  # its scratch is its own
        with pytest.raises(ValueError, match="scratch|output arrays"):
            _kernel_calls(r, r.size - 1)[kernel]()
    if kernel == "taylor_moments":
        with pytest.raises(ValueError, match="below 0"):
            _kernel_calls(r - 0.5, r.size)[kernel]()


def test_kernels_refuse_fewer_weights_than_values() -> None:
    r, short = np.linspace(0.0, 1.0, 100), np.ones(99, dtype=np.int64)
    calls = {
        "chunk_extent": lambda: weightscan.chunk_extent(r, short, True, np.array([0.0, 0.0, math.inf, -math.inf])),
        "centred_sums": lambda: weightscan.centred_sums(r, short, True),
        "bit_sums": lambda: weightscan.bit_sums(r, short, True, np.array([3], dtype=np.int64), np.full((1, 1), 0.5), np.zeros(1, dtype=bool),
                                                np.zeros((1, wstats.KS_BINS)), True, float(wstats._KS_SCALE), np.zeros((1, 3))),
        "taylor_moments": lambda: weightscan.taylor_moments(
            r, short, True, wstats.TAYLOR_BINS, wstats.TAYLOR_ORDER, np.empty(100, dtype=np.int64), np.empty(100), np.empty(100),
            np.empty(wstats.TAYLOR_BINS + 1, dtype=np.int64), np.zeros((wstats.TAYLOR_ORDER + 1, wstats.TAYLOR_BINS))),
        "ks_small": lambda: weightscan.ks_small(r, short, True, np.array([3], dtype=np.int64), 100.0, np.empty(1), np.empty(100),
                                                np.empty(100, dtype=np.int64), np.empty(100), np.empty(100, dtype=np.int64),
                                                np.empty(101, dtype=np.int64)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match="one weight per value"):
            call()
