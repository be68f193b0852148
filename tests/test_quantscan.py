"""The compiled paths of `weights --quantizer` (stecheck.weights.quantfast) against the numpy path, bit for bit.

Every field must be the same float64, compared by bit pattern (so -0.0 and 0.0 differ), on random tensors
(hypothesis): integer grids (the per-block kernel) with groups dividing the rows or ragged, per channel,
per tensor, flattened groups, stated scales and fixed grids; FP formats, MX and NVFP4 blocks and scales
along another axis (numpy's casts with the compiled sums); all-zero groups, tensors of one or two values, exact ties on the grid, values
far beyond a stated grid's range, non-finite values, float32/float64/16-bit storage, and blocks small
enough (the block size patched down) that every sum is added over many blocks. Bit equality holds by
construction (the same IEEE operations in numpy's pairwise order), so no tolerance is needed. The numpy
path itself is checked against an independent per-group computation in tests/test_weights_quantized.py.
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

import stecheck.weights.quantized as quantized
from stecheck.core.quantizers import parse_quantizer
from stecheck.weights.quantfast import serves
from stecheck.weights.quantized import array_statistics
from tests.conftest import SEED

STEPS = (1e-3, 0.37, 2.0)
SPECS = (
    "absmax(4,group=8)", "absmax(4,group=8,ragged=last)", "absmax(3,group=5,ragged=last)", "absmax(8)", "absmax(2,axis=none)",
    "absmax(4,group=6,axis=none,ragged=last)", "absmax(4,scale=0.25)", "affine(4,group=8,ragged=last)", "affine(3)",
    "affine(5,axis=none)", "affine(4,scale=0.125,zero=3)", "fixed(4,0.5,zero=8)", "fixed(2,0.3)", "fixed(8,0.001,zero=100)",
)


def bits_of(value: Any) -> Any:
    """Floats as their IEEE bit patterns (recursively), so equality is equality of bytes."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, (tuple, list)):
        return [bits_of(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f: bits_of(getattr(value, f)) for f in value.__dataclass_fields__}
    return value


OTHER_SPECS = (
    "fp(e4m3)", "fp(e5m2,axis=none)", "fp(e2m1,scale=0.25)", "fp(e3m2,group=8,ragged=last)", "fp(e2m3,group=5,axis=none,ragged=last)",
    "mx(fp4,block=8,ragged=last)", "mx(fp8,block=4,ragged=last)", "mx(fp6,block=8,ragged=last)", "nvfp4(ragged=last)",
    "absmax(4,axis=0)", "affine(3,axis=0)",
)


def assert_same(w: np.ndarray, spec: str, steps=STEPS) -> Any:
    q = parse_quantizer(spec)
    ref = array_statistics(w, q, steps, fast=False)
    got = array_statistics(w, q, steps, fast=True)
    assert bits_of(got) == bits_of(ref), spec
    return got


finite = st.floats(-4.0, 4.0, allow_nan=False, width=64)
special = st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf, 1e-300, -5e-324, 0.5, -0.5, 0.25, 1.0, -1.0, 3.75, 1e30])


@settings(max_examples=300, deadline=None)
@given(
    w=hnp.arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 40)), elements=st.one_of(finite, special)),
    spec=st.sampled_from(SPECS + OTHER_SPECS),
    dtype=st.sampled_from([np.float64, np.float32, np.float16, ml_dtypes.bfloat16]),
    zero_rows=st.integers(0, 3),
    block=st.sampled_from([None, 8, 40, 41]),
)
def test_compiled_path_equals_reference(w, spec, dtype, zero_rows, block) -> None:
    w[:zero_rows] = 0.0  # all-zero groups
    with np.errstate(over="ignore"):
        w = w.astype(dtype)
    with pytest.MonkeyPatch.context() as mp:
        if block is not None:
            mp.setattr(quantized, "CHUNK_ELEMENTS", block)  # blocks of whole groups of about this many values
        try:
            assert_same(w, spec)
        except quantized.SpecError as exc:  # a group that does not divide the rows: both paths refuse
            with pytest.raises(quantized.SpecError, match="ragged"):
                array_statistics(w, parse_quantizer(spec), STEPS, fast=False)
            assert "ragged" in str(exc)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("case", ["one value", "two values", "on the grid", "nonfinite only", "beyond the range", "subnormal span"])
def test_edge_tensors(spec: str, case: str) -> None:
    w = np.zeros((4, 24))
    if case == "one value":
        w[:] = 0.3
    elif case == "two values":
        w[::2] = -0.75
    elif case == "on the grid":  # every value a level (or a tie between two) of the grids above
        w = np.arange(-48, 48, dtype=np.float64).reshape(4, 24) / 8.0
    elif case == "nonfinite only":
        w[:] = np.nan
        w[1, 3] = np.inf
    elif case == "subnormal span":  # a step span / top that underflows to 0: the group is constant for both paths
        w[0, 1] = 5e-324
    else:
        w = np.linspace(-1e3, 1e3, 96).reshape(4, 24)
    if "ragged" not in spec and "group=" in spec:
        w = w[:, :16]
    got = assert_same(w, spec)
    assert got.degenerate == (case in ("one value", "nonfinite only"))


@pytest.mark.parametrize("spec", ["absmax(4,group=128)", "absmax(4,axis=none)", "affine(4,group=128)", "fixed(4,0.01,zero=8)"])
def test_many_blocks_at_the_real_block_size(spec: str) -> None:
    """600 x 512 values: per-tensor chunks and blocks of whole rows at the scan's own block size."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    w = (rng.standard_t(4, size=(600, 512)) * 0.02).astype(np.float32)
    w[3] = 0.0
    w[5, 7], w[9, 100] = np.nan, -np.inf
    got = assert_same(w, spec, (1e-3,))
    assert got.count == w.size - 2 and got.nonfinite == 2


@pytest.mark.parametrize("spec", ["fp(e4m3)", "mx(fp4)", "nvfp4", "absmax(4,axis=0)"])
def test_per_element_array_path_at_the_real_block_size(spec: str) -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    w = (rng.standard_t(4, size=(600, 512)) * 0.02).astype(np.float32)
    w[3] = 0.0
    w[5, 7] = np.nan
    got = assert_same(w, spec, (1e-3,))
    assert got.count == w.size - 1


def test_groups_dividing_rows_longer_than_a_block() -> None:
    """Rows of 5,000 with groups of 8: blocks of whole groups end inside a row (once a reshape error)."""
    w = np.random.Generator(np.random.PCG64(SEED)).standard_normal((60, 5000)).astype(np.float32)
    got = assert_same(w, "absmax(4,group=8)", (1e-3,))
    assert got.count == w.size


@pytest.mark.parametrize("limits", [None, (64, 1 << 17)])
@pytest.mark.parametrize("kind", ["continuous", "point masses", "grid"])
def test_exact_ks_of_many_values_equals_sorting_them_all(kind: str, limits, monkeypatch) -> None:
    """Above SORT_MAX values the KS statistic comes from the histogram and its refinement (gathering and
    splitting over several passes under tiny limits): the same float as sorting every value."""
    import stecheck.weights.stats as wstats
    from stecheck.weights.quantfast import exact_ks

    if limits is not None:
        monkeypatch.setattr(wstats, "GATHER_LIMIT", limits[0])
        monkeypatch.setattr(wstats, "SPLIT_BINS", limits[1])
    rng = np.random.Generator(np.random.PCG64(SEED))
    n = rng.uniform(-0.5, 0.5, 100_000) ** 3 * 4.0
    if kind == "point masses":
        n[::3] = 0.0
        n[1::7] = 0.25
    elif kind == "grid":
        n = np.round(rng.uniform(-0.5, 0.5, 100_000) * 37) / 37
    want = wstats.ks_from_sorted(np.sort(n), None, None, float(n.size))
    assert bits_of(exact_ks(n.copy())) == bits_of(want)
