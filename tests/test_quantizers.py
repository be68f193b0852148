"""Each quantizer of stecheck.core.quantizers against an independent reference written here.

Integer grids: plain numpy per tensor, per channel and per group (ragged last group, all-zero group).
Float formats: ml_dtypes casts, and the value sets built from the formats' definitions. MX and NVFP4:
blocks computed by hand from the OCP Microscaling specification v1.0 (section 6.3) and NVIDIA's NVFP4
description (E2M1 values, an E4M3 scale per 16 values, a per-tensor FP32 scale amax / (448 * 6)).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from stecheck.core.quantize import quantize as dorefa_quantize
from stecheck.core.quantizers import parse_quantizer
from stecheck.core.quantizers.base import FloatBase
from tests.conftest import SEED

FORMATS = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2, "e2m3": ml_dtypes.float6_e2m3fn,
           "e3m2": ml_dtypes.float6_e3m2fn, "e2m1": ml_dtypes.float4_e2m1fn}
#: (exponent bits, mantissa bits, bias, reserved top encodings): E4M3FN reserves S.1111.111 for NaN; E5M2 (IEEE
#: style) the whole top exponent for infinities and NaNs; the FP6 and FP4 formats reserve nothing.
DEFINITIONS = {"e4m3": (4, 3, 7, "nan-mantissa"), "e5m2": (5, 2, 15, "top-exponent"), "e2m3": (2, 3, 1, None),
               "e3m2": (3, 2, 3, None), "e2m1": (2, 1, 1, None)}


def format_values(name: str) -> np.ndarray:
    """All finite values of a format from its definition: subnormals m 2^(1-bias-p), normals (1 + m/2^p) 2^(e-bias)."""
    ebits, p, bias, reserved = DEFINITIONS[name]
    values = {0.0}
    for e in range(0, 2**ebits):
        if reserved == "top-exponent" and e == 2**ebits - 1:
            continue
        for m in range(2**p):
            if reserved == "nan-mantissa" and e == 2**ebits - 1 and m == 2**p - 1:
                continue
            v = m / 2**p * 2.0 ** (1 - bias) if e == 0 else (1 + m / 2**p) * 2.0 ** (e - bias)
            values.update((v, -v))
    return np.array(sorted(values))


def rng() -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(SEED))


# ---------------------------------------------------------------- integer grids


def ref_absmax(x: np.ndarray, bits: int, group_of) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, n and the scale of symmetric absmax, group by group; ``group_of`` lists index arrays of the groups."""
    top = 2 ** (bits - 1) - 1
    q, n, s_all = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for idx in group_of(x):
        g = x[idx]
        amax = np.abs(g).max()
        if amax == 0:
            continue  # an all-zero group: q = 0, n = 0
        s = amax / top
        code = np.clip(np.rint(g / s), -top, top)
        q[idx] = s * code
        n[idx] = code - np.clip(g / s, -top, top)
        s_all[idx] = s
    return q, n, s_all


def ref_affine(x: np.ndarray, bits: int, group_of) -> tuple[np.ndarray, np.ndarray]:
    top = 2**bits - 1
    q, n = np.zeros_like(x), np.zeros_like(x)
    for idx in group_of(x):
        g = x[idx]
        lo, hi = min(g.min(), 0.0), max(g.max(), 0.0)
        if hi == lo:
            continue
        s = (hi - lo) / top
        z = np.clip(np.rint(-lo / s), 0, top)
        code = np.clip(np.rint(g / s) + z, 0, top)
        q[idx] = s * (code - z)
        n[idx] = code - np.clip(g / s + z, 0, top)
    return q, n


def per_tensor(x):
    return [np.ones(x.shape, dtype=bool)]


def per_row(x):
    return [np.s_[i, :] for i in range(x.shape[0])]


def per_column(x):
    return [np.s_[:, j] for j in range(x.shape[1])]


def rows_in_groups(size):
    def groups(x):
        return [np.s_[i, j : j + size] for i in range(x.shape[0]) for j in range(0, x.shape[1], size)]

    return groups


def tensor() -> np.ndarray:
    x = rng().standard_t(5, size=(6, 100)) * 0.02
    x[2, 96:] = 0.0  # the ragged last group of row 2 (groups of 32) is all zero
    x[4, :32] = 0.0  # and the first group of row 4
    x[5, 40] = 0.0
    return x


CASES = [
    ("absmax(4,axis=none)", per_tensor),
    ("absmax(8)", per_row),
    ("absmax(3,axis=0)", per_column),
    ("absmax(4,group=20)", rows_in_groups(20)),
    ("absmax(4,group=32,ragged=last)", rows_in_groups(32)),
]


@pytest.mark.parametrize("spec,groups", CASES)
def test_absmax_equals_numpy_reference(spec: str, groups) -> None:
    x = tensor()
    q = parse_quantizer(spec)
    want_q, want_n, scale = ref_absmax(x, q.bits, groups)
    np.testing.assert_allclose(q.quantize(x), want_q, rtol=1e-14, atol=0)
    np.testing.assert_allclose(q.rounding_error(x), want_n, atol=1e-12)
    # each group's largest |x| lands exactly on a level: n = 0 there, so P(n = 0) >= (groups) / size
    n = q.rounding_error(x)
    for idx in groups(x):
        g = x[idx]
        if np.abs(g).max() > 0:
            assert n[idx][np.argmax(np.abs(g))] == 0.0
    # D_h with the scale held fixed at the unperturbed tensor's
    h = 1e-3
    top = 2 ** (q.bits - 1) - 1
    safe = np.where(scale > 0, scale, 1.0)
    moved = np.where(scale > 0, scale * np.clip(np.rint((x + h) / safe), -top, top), 0.0)
    np.testing.assert_allclose(q.finite_difference(x, h), (moved - want_q) / h, rtol=1e-12, atol=1e-9)
    assert q.ste(x).all()  # absmax never clips its own tensor


@pytest.mark.parametrize("spec,groups", [("affine(4,axis=none)", per_tensor), ("affine(8)", per_row),
                                         ("affine(3,group=32,ragged=last)", rows_in_groups(32))])
def test_affine_equals_numpy_reference(spec: str, groups) -> None:
    x = tensor() + 0.01  # not centred: the zero point moves
    x[2, 96:] = 0.0
    q = parse_quantizer(spec)
    want_q, want_n = ref_affine(x, q.bits, groups)
    np.testing.assert_allclose(q.quantize(x), want_q, rtol=1e-14, atol=1e-18)
    np.testing.assert_allclose(q.rounding_error(x), want_n, atol=1e-12)
    assert np.all(q.quantize(x)[x == 0] == 0)  # 0 is a level of every affine group


def test_group_not_dividing_is_refused_without_a_ragged_policy() -> None:
    from stecheck.errors import SpecError

    with pytest.raises(SpecError, match="ragged=last"):
        parse_quantizer("absmax(4,group=32)").quantize(tensor())


@pytest.mark.parametrize("spec,step,zero,codes", [("fixed(4,0.1)", 0.1, 0, (0, 15)), ("fixed(3,0.25,zero=4)", 0.25, 4, (0, 7)),
                                                  ("absmax(4,scale=0.05)", 0.05, 0, (-7, 7)),
                                                  ("affine(5,scale=0.02,zero=16)", 0.02, 16, (0, 31))])
def test_fixed_integer_grids_equal_numpy_reference(spec: str, step: float, zero: int, codes: tuple[int, int]) -> None:
    x = rng().normal(0.1, 0.5, 20000)
    q = parse_quantizer(spec)
    code = np.clip(np.rint(x / step) + zero, *codes)
    np.testing.assert_array_equal(q.quantize(x), step * (code - zero))
    lo, hi = step * (codes[0] - zero), step * (codes[1] - zero)
    np.testing.assert_allclose(q.rounding_error(x), (step * (code - zero) - np.clip(x, lo, hi)) / step, atol=1e-12)
    np.testing.assert_array_equal(q.ste(x), (x >= lo) & (x <= hi))
    assert q.grid() is not None and q.grid().lo == pytest.approx(lo) and q.grid().hi == pytest.approx(hi)


def test_dorefa_is_quantize_k() -> None:
    x = rng().uniform(-0.5, 1.5, 1000)
    np.testing.assert_array_equal(parse_quantizer("dorefa(3)").quantize(x), dorefa_quantize(x, 3))
    np.testing.assert_array_equal(parse_quantizer("dorefa(3)").quantize(x), np.rint(7 * x) / 7)


# ---------------------------------------------------------------- float formats


@pytest.mark.parametrize("name", list(FORMATS))
def test_format_values_match_the_definition(name: str) -> None:
    np.testing.assert_array_equal(FloatBase(name).levels, format_values(name))


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_fp_with_scale_is_a_saturating_ml_dtypes_cast(name: str, scale: float) -> None:
    fmax = float(ml_dtypes.finfo(FORMATS[name]).max)
    x = np.concatenate([rng().normal(0, 1, 5000) * fmax * scale / 3, rng().normal(0, 1, 5000) * scale,
                        [0.0, fmax * scale * 1.5, -fmax * scale * 7, np.nan]])
    q = parse_quantizer(f"fp({name},scale={scale})")
    cast = np.clip(x / scale, -fmax, fmax).astype(FORMATS[name]).astype(np.float64)
    want = scale * np.where(np.isnan(x), np.nan, cast)
    np.testing.assert_array_equal(q.quantize(x), want)
    # n in units of the gap of the cell holding clamp(x), the gap found from the format's value set
    values = format_values(name)
    xc = np.clip(x[:-1] / scale, -fmax, fmax)
    j = np.clip(np.searchsorted(values, xc, side="right") - 1, 0, values.size - 2)
    gap = values[j + 1] - values[j]
    np.testing.assert_allclose(q.rounding_error(x[:-1]), (cast[:-1] - xc) / gap, atol=1e-12)
    assert np.abs(q.rounding_error(x[:-1])).max() <= 0.5
    off = cast[:-1] != xc  # the local step off the levels (on a level n = 0 whichever side's gap is taken), and at 0
    np.testing.assert_array_equal(FloatBase(name).local_step(xc[off]), gap[off])
    assert FloatBase(name).local_step(np.zeros(1))[0] == values[values > 0].min()
    np.testing.assert_array_equal(q.ste(x[:-1]), np.abs(x[:-1] / scale) <= fmax)


def test_fp_per_tensor_maps_the_max_to_the_largest_value() -> None:
    x = rng().normal(0, 0.3, (4, 64))
    q = parse_quantizer("fp(e4m3,axis=none)")
    s = np.abs(x).max() / 448.0
    want = s * (x / s).astype(ml_dtypes.float8_e4m3fn).astype(np.float64)
    np.testing.assert_allclose(q.quantize(x), want, rtol=1e-14)
    assert q.rounding_error(x).flat[np.argmax(np.abs(x))] == 0.0


# ---------------------------------------------------------------- MX and NVFP4, by hand


def test_mxfp4_blocks_by_hand() -> None:
    """OCP MX v1.0, 6.3: X = 2^(floor(log2 max|V|) - emax_elem), emax(E2M1) = 2; P = E2M1(V / X), saturating.

    Block 1: max 5 -> floor(log2 5) = 2 -> X = 2^0. 5 is halfway between 4 and 6 -> 4 (even mantissa);
    0.25 halfway between 0 and 0.5 -> 0; 0.3 -> 0.5; 2.6 -> 3; -1.25 halfway between 1 and 1.5 -> -1.
    Block 2: max 100 -> floor(log2 100) = 6 -> X = 2^4 = 16. 100/16 = 6.25 -> 6 -> 96; 7/16 = 0.4375 -> 0.5 -> 8;
    -30/16 = -1.875 -> -2 -> -32; 0.01/16 -> 0.
    """
    x = np.zeros(64)
    x[:5] = [5.0, 0.25, 0.3, 2.6, -1.25]
    x[32:36] = [100.0, 7.0, -30.0, 0.01]
    want = np.zeros(64)
    want[:5] = [4.0, 0.0, 0.5, 3.0, -1.0]
    want[32:36] = [96.0, 8.0, -32.0, 0.0]
    np.testing.assert_array_equal(parse_quantizer("mx(fp4)").quantize(x), want)


def test_mxfp8_block_by_hand() -> None:
    """E4M3: emax = 8 (448 = 1.75 2^8). max 1000 -> floor(log2 1000) = 9 -> X = 2. 1000/2 = 500 > 448 -> saturates
    to 448 -> 896; 3.3/2 = 1.65 -> 1.625 (step 1/8 in [1, 2)) -> 3.25; -0.01/2 = -0.005 -> subnormal step 2^-9:
    -0.005 * 512 = -2.56 -> -3 -> -3/512 -> -0.01171875."""
    x = np.zeros(32)
    x[:3] = [1000.0, 3.3, -0.01]
    want = np.zeros(32)
    want[:3] = [896.0, 3.25, -0.01171875]
    np.testing.assert_array_equal(parse_quantizer("mx(fp8)").quantize(x), want)


def test_all_zero_mx_block_stays_zero() -> None:
    x = np.zeros(64)
    x[40] = 1.0
    q = parse_quantizer("mx(fp4)")
    assert np.all(q.quantize(x)[:32] == 0) and np.all(q.rounding_error(x)[:32] == 0)


def test_nvfp4_blocks_by_hand() -> None:
    """NVFP4: s_t = FP32(amax / (448 * 6)); per block s_b = E4M3(amax_block / 6 / s_t); values E2M1(x / (s_b s_t)).

    Tensor max 6 -> s_t = 6 / 2688 (in FP32). Block 1 (max 6): s_b = 448 -> sigma = 448 s_t ~ 1: 6 -> 6, 2.4 -> 2,
    -0.7 -> -0.5 (between 0.5 and 1, nearer 0.5). Block 2 (max 1): 1/6 / s_t = 74.67 -> E4M3 in [64, 128) has step 8
    -> 72, sigma = 72 s_t: 1/sigma = 6.22 -> 6; 0.3/sigma = 1.87 -> 2; -0.5/sigma = -3.11 -> -3; 0.05/sigma = 0.31 -> 0.5.
    """
    x = np.zeros(32)
    x[:3] = [6.0, 2.4, -0.7]
    x[16:20] = [1.0, 0.3, -0.5, 0.05]
    s_t = float(np.float32(6.0 / 2688.0))
    want = np.zeros(32)
    want[:3] = np.array([6.0, 2.0, -0.5]) * 448 * s_t
    want[16:20] = np.array([6.0, 2.0, -3.0, 0.5]) * 72 * s_t
    np.testing.assert_allclose(parse_quantizer("nvfp4").quantize(x), want, rtol=1e-15)


# ---------------------------------------------------------------- spec strings


@pytest.mark.parametrize("text,canonical", [
    ("dorefa", "dorefa"), ("DoReFa( 3 )", "dorefa(3)"), ("absmax(4, group=128)", "absmax(4,group=128)"),
    ("absmax(8,scale=0.01)", "absmax(8,scale=0.01)"), ("fixed(4, 0.1, 8)", "fixed(4,0.1,zero=8)"),
    ("fp(e4m3)", "fp(e4m3)"), ("mx(fp4,block=32)", "mx(fp4)"), ("nvfp4", "nvfp4"), ("affine(4,group=none,axis=-1)", "affine(4)"),
])
def test_specs_are_canonical(text: str, canonical: str) -> None:
    assert parse_quantizer(text).spec == canonical
    assert parse_quantizer(canonical).spec == canonical


# ---------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPECS = ["fixed(4,0.1,zero=8)", "absmax(3,scale=0.25)", "fp(e4m3,scale=0.01)", "fp(e2m1,scale=1)", "fp(e5m2,scale=0.001)",
         "absmax(4,group=8)", "affine(5,group=8)", "mx(fp6,block=8)", "nvfp4", "fp(e3m2,axis=none)"]


@settings(max_examples=60, deadline=None)
@given(spec=st.sampled_from(SPECS),
       x=st.lists(st.floats(-50, 50, allow_nan=False, allow_subnormal=False), min_size=16, max_size=16))
def test_error_is_within_half_a_step_and_grids_are_idempotent(spec: str, x: list[float]) -> None:
    q = parse_quantizer(spec)
    w = np.array(x).reshape(1, 16)
    n = q.rounding_error(w)
    assert np.all(np.abs(n) <= 0.5)
    grid = q.grid()
    if grid is not None:  # a fixed grid maps its levels to themselves
        once = q.quantize(w)
        np.testing.assert_array_equal(q.quantize(once), once)
        # a level is scale * code in float64: x / scale recovers the code to within 2 eps relative, so n on a
        # level is at most 2 eps |code| / step(code) <= 2 eps 2^8 for these grids, not exactly 0
        assert np.all(np.abs(q.rounding_error(once)) <= 2 * np.finfo(float).eps * 2**8)
