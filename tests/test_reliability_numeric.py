"""Numeric edge inputs: each either computes the right thing (against plain numpy) or is refused with a reason.

Plain numpy reference: ``q(r) = rint(L r) / L`` (half-even), ``D_h = (q(r + h) - q(r)) / h`` (forward) or
``(q(r + h/2) - q(r - h/2)) / h`` (central), on independent samples; two Monte Carlo means agree when
they differ by less than 5 combined standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stecheck import simulate
from stecheck.config import MIN_STEP, RunConfig
from stecheck.core.distributions import MAX_MAGNITUDE, MIN_SCALE, parse_input
from stecheck.core.exact import exact_mean_fd
from stecheck.core.quantize import levels
from stecheck.errors import ConfigError, SpecError
from tests.conftest import SEED, SEED_B

Z = 5.0
N = 200_000


def q(r: np.ndarray, k: int) -> np.ndarray:
    scale = levels(k)
    return np.rint(r * scale) / scale


def numpy_reference(draw, k: int, h: float, scheme: str, n: int = N) -> dict[str, float]:
    """Plain numpy E[n] and E[D_h] with standard errors from ``draw(rng, n)``."""
    r = draw(np.random.Generator(np.random.PCG64(SEED_B)), n)
    err = q(r, k) * levels(k) - r * levels(k)
    if scheme == "forward":
        d = (q(r + h, k) - q(r, k)) / h
    else:
        d = (q(r + h / 2, k) - q(r - h / 2, k)) / h
    return {
        "mean_n": float(err.mean()), "mean_n_se": float(err.std(ddof=1) / math.sqrt(n)),
        "mean_fd": float(d.mean()), "mean_fd_se": float(d.std(ddof=1) / math.sqrt(n)),
    }


def agree(rec: dict, ref: dict, key: str) -> None:
    tol = Z * math.hypot(rec[f"{key}_se"], ref[f"{key}_se"])
    assert abs(rec[key] - ref[key]) <= tol + 1e-12, (key, rec[key], ref[key], tol)


def run_one(spec: str, k: int, h: float, scheme: str, method: str = "both") -> dict:
    (rec,) = simulate(spec, bits=k, h=h, fd=scheme, samples=N, seed=SEED, method=method)
    return rec


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize("spec", [
    "normal(nan,1)", "normal(NaN,1)", "normal(0.5,inf)", "uniform(-inf,1)", "uniform(0,Infinity)", "normal(1e400,1)",
    "mix(nan*normal(0,1),1*uniform(0,1))", "dorefa(normal(0,1),size=inf)", "point(-1e999)",
])
def test_non_finite_numbers_are_refused(spec: str) -> None:
    with pytest.raises(SpecError, match="not finite"):
        parse_input(spec)


@pytest.mark.parametrize("spec,param", [
    ("normal(1e300,1)", "mu"), ("point(1e6)", "x"), ("uniform(-1e308,1e308)", "a"), ("normal(0.5,1e-310)", "sigma"),
    ("laplace(0.5,1e-300)", "b"), ("logistic(0,1e9)", "s"), ("t(1e-300,0,1)", "df"), ("beta(1e-300,1)", "a"),
    ("onlevel(1e-320)", "width"), ("uniform(0.5,0.5000000000001)", "b-a"),
])
def test_magnitudes_beyond_float64_resolution_are_refused(spec: str, param: str) -> None:
    with pytest.raises(SpecError, match=rf"{param}=.* is outside"):
        parse_input(spec)


@pytest.mark.parametrize("h", [MIN_STEP / 2, 1e-17, 5e-324, 1e300])
def test_steps_beyond_float64_resolution_are_refused(h: float) -> None:
    with pytest.raises(ConfigError, match="outside"):
        RunConfig(inputs=("uniform(0,1)",), steps=(h,)).validated()


def test_below_the_step_floor_plain_float_differences_are_rounding_noise() -> None:
    """Why h < 2^-36 is refused: with h = 1e-17, r + h == r for every r in [1/4, 1) and numpy's D_h is 0,
    while the true E[D_1e-17] of normal(0.5,0.15) at k = 1 is the density at 1/2, about 2.66."""
    r = np.random.Generator(np.random.PCG64(SEED)).uniform(0.25, 1.0, 100_000)
    assert np.all(r + 1e-17 == r)
    assert np.all(q(r + 1e-17, 1) == q(r, 1))
    density = math.exp(-0.5 * 0) / (0.15 * math.sqrt(2 * math.pi))
    assert exact_mean_fd(parse_input("normal(0.5,0.15)"), 1, "half-even", "forward", 1e-17) < 0.5 * density


# ---------------------------------------------------------------- computed right


def test_at_the_step_floor_the_exact_reference_still_holds() -> None:
    """At h = 2^-36 the CDF differences keep enough bits: E[D_h] within 1e-3 of its h = 1e-7 value."""
    inp = parse_input("normal(0.5,0.15)")
    for k in (1, 8):
        near = exact_mean_fd(inp, k, "half-even", "forward", 1e-7)
        floor = exact_mean_fd(inp, k, "half-even", "forward", MIN_STEP)
        assert abs(floor - near) <= 1e-3 * near, (k, floor, near)


@pytest.mark.parametrize("k,h", [(3, 2.5 / 7), (3, 7.3 / 7), (2, 1.9)], ids=["2.5 Delta", "7.3 Delta", "h > 1"])
@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_h_larger_than_delta_crosses_several_thresholds(k: int, h: float, scheme: str) -> None:
    rec = run_one("normal(0.5,0.3)", k, h, scheme)
    ref = numpy_reference(lambda rng, n: rng.normal(0.5, 0.3, n), k, h, scheme)
    agree(rec, ref, "mean_fd")
    agree(rec, ref, "mean_n")
    assert abs(rec["mean_fd"] - rec["exact_mean_fd"]) <= Z * rec["mean_fd_se"]
    assert rec["p_fd_zero"] < 1.0


@pytest.mark.parametrize("k,h", [(1, 1e-2), (24, 1e-6), (24, 3e-8)], ids=["k=1", "k=24 h=17 Delta", "k=24 h=Delta/2"])
def test_k_at_both_ends_of_its_range(k: int, h: float) -> None:
    rec = run_one("normal(0.5,0.15)", k, h, "forward", method="mc")
    ref = numpy_reference(lambda rng, n: rng.normal(0.5, 0.15, n), k, h, "forward")
    agree(rec, ref, "mean_fd")
    agree(rec, ref, "mean_n")


@pytest.mark.parametrize("spec,draw", [
    (f"normal({MAX_MAGNITUDE:g},1)", lambda rng, n: rng.normal(MAX_MAGNITUDE, 1.0, n)),
    (f"laplace(0,{MAX_MAGNITUDE:g})", lambda rng, n: rng.laplace(0.0, MAX_MAGNITUDE, n)),
    (f"uniform(-{MAX_MAGNITUDE / 2:g},{MAX_MAGNITUDE / 2:g})", lambda rng, n: rng.uniform(-MAX_MAGNITUDE / 2, MAX_MAGNITUDE / 2, n)),
], ids=["normal far from [0,1]", "laplace widest", "uniform widest"])
@pytest.mark.parametrize("k", [1, 24])
def test_largest_magnitudes_allowed(spec: str, draw, k: int) -> None:
    rec = run_one(spec, k, 1e-3, "forward", method="mc")
    ref = numpy_reference(draw, k, 1e-3, "forward")
    agree(rec, ref, "mean_fd")
    agree(rec, ref, "mean_n")
    assert abs(rec["var12_n"] - 1.0) < 0.02  # n is uniform at this resolution


@pytest.mark.parametrize("x", [5e-324, 2.2250738585072014e-308 / 3, -1e-310, MAX_MAGNITUDE, -MAX_MAGNITUDE, 0.0])
@pytest.mark.parametrize("k", [1, 24])
def test_point_masses_at_denormals_and_extremes_are_exact(x: float, k: int) -> None:
    """A point mass: every sample equals x, so the Monte Carlo mean is the numpy value exactly."""
    (rec,) = simulate(f"point({x!r})", bits=k, h=1e-3, fd="forward", samples=1000, seed=SEED)
    r = np.array([x])
    assert rec["mean_n"] == pytest.approx(float(q(r, k)[0] * levels(k) - x * levels(k)), abs=1e-300)
    assert rec["mean_fd"] == pytest.approx(float(((q(r + 1e-3, k) - q(r, k)) / 1e-3)[0]), rel=1e-9)
    assert rec["exact_mean_fd"] == pytest.approx(rec["mean_fd"], rel=1e-9)


def test_narrowest_scale_allowed_is_a_near_point_mass() -> None:
    rec = run_one(f"normal(0.3,{MIN_SCALE!r})", 4, 1e-3, "forward")
    ref = numpy_reference(lambda rng, n: rng.normal(0.3, MIN_SCALE, n), 4, 1e-3, "forward")
    agree(rec, ref, "mean_fd")
    agree(rec, ref, "mean_n")  # L r = 4.5 is a tie at k = 4: n is +-1/2 by the sign of r - 0.3


# ---------------------------------------------------------------- weights: the exact KS statistic in bounded memory


def _ks_reference(w: np.ndarray, k: int, transform: str = "dorefa") -> float:
    """scipy's two-sided KS statistic of n = rint(L r) - L r over the whole population."""
    from scipy import stats

    from stecheck.weights.stats import make_transform, rounding_errors, scan_extent

    r = make_transform(transform, scan_extent([(w, None)]))(w)
    return float(stats.kstest(rounding_errors(r, levels(k)), "uniform", args=(-0.5, 1.0), method="asymp").statistic)


def _chunks(w: np.ndarray, size: int = 1 << 15):
    return lambda: ((w[i:i + size], None) for i in range(0, w.size, size))


def _hostile_tensors() -> dict[str, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(SEED))
    pruned = (0.05 * rng.standard_t(4, 200_000)).astype(np.float32).astype(np.float64)
    pruned[rng.random(pruned.size) < 0.9] = 0.0  # 90% exact zeros: one value of n, 180 000 times
    cluster = 1.0 + 1e-9 * rng.standard_normal(100_000)  # 100 000 distinct n inside one histogram bin
    cluster[:3] = [-1.0, 0.0, 1.5]
    steps = np.repeat(np.linspace(-1, 1, 41), 2_000)  # 41 values, each 2 000 times: ties in many bins
    return {"pruned": pruned, "cluster": cluster, "steps": steps}


@pytest.mark.parametrize("name", ["pruned", "cluster", "steps"])
@pytest.mark.parametrize("gather,split", [(64, 1 << 10), (1 << 20, 1 << 20)], ids=["tiny budgets", "default budgets"])
def test_weights_ks_refinement_is_exact_under_any_budget(monkeypatch, name: str, gather: int, split: int) -> None:
    """Gathered or split into counted sub-bins over several passes, the KS statistic is scipy's."""
    import stecheck.weights.stats as wstats

    monkeypatch.setattr(wstats, "GATHER_LIMIT", gather, raising=False)
    monkeypatch.setattr(wstats, "SPLIT_BINS", split, raising=False)
    monkeypatch.setattr(wstats, "KEEP_LIMIT", 0)  # every pass re-reads the chunks
    w = _hostile_tensors()[name]
    bits = (1, 2, 5, 8)
    st = wstats.tensor_statistics(_chunks(w), bits, (1e-3,), "dorefa")
    for k in bits:
        assert st.per_bits[k].ks_stat == pytest.approx(_ks_reference(w, k), abs=1e-12), (name, k)


def test_weights_ks_refinement_with_counted_sixteen_bit_values(monkeypatch) -> None:
    """Distinct bfloat16 values with multiplicities (weighted chunks) through the split path."""
    import ml_dtypes

    import stecheck.weights.stats as wstats
    from stecheck.weights.tensors import TensorRef, array_reader

    monkeypatch.setattr(wstats, "GATHER_LIMIT", 16, raising=False)
    w = _hostile_tensors()["pruned"].astype(ml_dtypes.bfloat16)
    tensor = TensorRef("w", w.shape, w.dtype, array_reader(w))
    st = wstats.tensor_statistics(tensor.chunks, (1, 3, 8), (1e-3,))
    for k in (1, 3, 8):
        assert st.per_bits[k].ks_stat == pytest.approx(_ks_reference(w.astype(np.float64), k), abs=1e-12)


def test_weights_ks_refinement_memory_does_not_grow_with_ties(monkeypatch) -> None:
    """A mostly-zero tensor: the refinement's peak allocation is set by its budgets, not by the 1.8 million
    zeros sharing one bin of n (the earlier pass kept every value of its candidate bins)."""
    import tracemalloc

    import stecheck.weights.stats as wstats

    monkeypatch.setattr(wstats, "KEEP_LIMIT", 0)
    monkeypatch.setattr(wstats, "GATHER_LIMIT", 1 << 14, raising=False)
    monkeypatch.setattr(wstats, "SPLIT_BINS", 1 << 14, raising=False)
    rng = np.random.Generator(np.random.PCG64(SEED_B))
    w = np.zeros(2_000_000, dtype=np.float32)
    w[::10] = 0.05 * rng.standard_normal(w.size // 10)
    chunks = lambda: ((w[i:i + (1 << 16)], None) for i in range(0, w.size, 1 << 16))  # noqa: E731
    tracemalloc.start()
    try:
        st = wstats.tensor_statistics(chunks, (1,), (1e-3,))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, peak  # chunk buffers and the two budgets; the zeros alone would take 30 MB
    assert st.per_bits[1].ks_stat == pytest.approx(_ks_reference(w.astype(np.float64), 1), abs=1e-12)


def test_weights_ks_refinement_matches_scipy_on_random_tied_tensors(monkeypatch) -> None:
    """Random tensors drawn from few distinct values plus a cluster (ties and near-ties), tiny budgets."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import stecheck.weights.stats as wstats

    monkeypatch.setattr(wstats, "GATHER_LIMIT", 8, raising=False)
    monkeypatch.setattr(wstats, "SPLIT_BINS", 64, raising=False)

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(seed=st.integers(0, 2**32 - 1), distinct=st.integers(2, 40), size=st.integers(2, 3000), k=st.sampled_from([1, 2, 4, 7]))
    def check(seed: int, distinct: int, size: int, k: int) -> None:
        rng = np.random.Generator(np.random.PCG64(seed))
        pool = np.concatenate([rng.normal(0, 0.3, distinct), 0.2 + 1e-12 * rng.standard_normal(distinct)])
        w = rng.choice(pool, size)
        if np.ptp(w) == 0:
            return
        st_ = wstats.tensor_statistics(_chunks(w, 257), (k,), (1e-3,), "dorefa")
        assert st_.per_bits[k].ks_stat == pytest.approx(_ks_reference(w, k), abs=1e-12)

    check()
