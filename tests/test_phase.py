"""stecheck phase: CDF sums vs Fourier series vs stecheck.core.exact vs Monte Carlo, and the rule of thumb."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from stecheck.claims.phase.map import (
    DEFAULT_FAMILIES,
    Rule,
    cdf_sums,
    fourier_sums,
    min_bits,
    offset_grid,
    parse_family,
    phase_map,
    rule_of_thumb,
    sigma_grid,
    stability_bound,
)
from stecheck.claims.phase.run import RULE_FIELDS, SPOT_Z, spot_checks, spot_z
from stecheck.core.distributions import parse_input
from stecheck.core.exact import exact_error_moments, exact_mean_fd
from stecheck.errors import StecheckError
from tests.conftest import SEED, invoke

FAMILIES = (*DEFAULT_FAMILIES, "t(5)")
TOL = 0.05


def _rel_gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))))


# ---------------------------------------------------------------- exact evaluations


@pytest.mark.parametrize("eta", [0.0, 0.3, 1e-2, 1.0])
@pytest.mark.parametrize("name", DEFAULT_FAMILIES)
def test_cdf_sums_and_fourier_agree_to_1e9_on_the_default_grid(name: str, eta: float) -> None:
    pm = phase_map(parse_family(name), sigma_grid(0.02, 10.0, 200), offset_grid(100), eta)
    assert _rel_gap(pm.mean_fd_cdf, pm.mean_fd_fourier) <= 1e-9
    assert float(np.max(np.abs(pm.mean_n_cdf - pm.mean_n_fourier))) <= 1e-9


@pytest.mark.parametrize("eta", [0.0, 0.25])
def test_cdf_sums_and_fourier_agree_for_student_t(eta: float) -> None:
    pm = phase_map(parse_family("t(5)"), sigma_grid(0.02, 3.0, 40), offset_grid(20), eta)
    assert _rel_gap(pm.mean_fd_cdf, pm.mean_fd_fourier) <= 1e-9
    assert float(np.max(np.abs(pm.mean_n_cdf - pm.mean_n_fourier))) <= 1e-9


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("sd", "offset", "eta"), [(0.13, 0.5, 0.2), (0.37, 0.21, 0.7), (1.3, 0.0, 0.05)])
def test_cdf_sums_equal_stecheck_exact(name: str, sd: float, offset: float, eta: float) -> None:
    """The vectorised sums against stecheck.core.exact on the same input in r units (k = 3, L = 7)."""
    family, k, scale = parse_family(name), 3, 7
    inp = parse_input(family.r_spec((3 + offset) / scale, sd / scale))
    fd, mean_n = cdf_sums(family, sd, [offset], eta)
    assert fd[0] == pytest.approx(exact_mean_fd(inp, k, "half-even", "forward", eta / scale), rel=1e-10, abs=1e-12)
    moments = exact_error_moments(inp, k, "half-even")
    assert moments is not None
    assert mean_n[0] == pytest.approx(moments.mean, abs=1e-9)


def test_uniform_counts_thresholds_exactly() -> None:
    """Width w = 2.5 steps: 2 thresholds inside when centred on a level, 3 on a threshold (E[D_0] = count / w)."""
    family = parse_family("uniform")
    sd = 2.5 / math.sqrt(12.0)
    for evaluate in (cdf_sums, fourier_sums):
        fd, mean_n = evaluate(family, sd, [0.0, 0.5], 0.0)
        np.testing.assert_allclose(fd, [2 / 2.5, 3 / 2.5], rtol=1e-12)
        np.testing.assert_allclose(mean_n, [0.0, 0.0], atol=1e-12)


def test_normal_matches_the_theory_series() -> None:
    """THEORY.md: E[D_0] = 1 + 2 sum (-1)^l cos(2 pi l mu) exp(-2 pi^2 l^2 sigma^2), E[n] likewise with sin / (pi l)."""
    sd, mu = 0.21, np.array([0.0, 0.1, 0.37, 0.5])
    ell = np.arange(1, 60)[:, None]
    psi = np.exp(-2 * math.pi**2 * ell**2 * sd**2)
    expected_fd = 1 + 2 * np.sum((-1.0) ** ell * np.cos(2 * math.pi * ell * mu) * psi, axis=0)
    expected_n = np.sum((-1.0) ** ell * np.sin(2 * math.pi * ell * mu) * psi / (math.pi * ell), axis=0)
    fd, mean_n = cdf_sums(parse_family("normal"), sd, mu, 0.0)
    np.testing.assert_allclose(fd, expected_fd, rtol=1e-12)
    np.testing.assert_allclose(mean_n, expected_n, atol=1e-13)


def test_integer_step_window_gives_exactly_one() -> None:
    """A window of one full step always holds one threshold: E[D_1] = 1 for any input."""
    for name in FAMILIES:
        for evaluate in (cdf_sums, fourier_sums):
            fd, _ = evaluate(parse_family(name), 0.07, offset_grid(8), 1.0)
            np.testing.assert_allclose(fd, 1.0, atol=1e-9)


# ---------------------------------------------------------------- Monte Carlo


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_monte_carlo_spot_checks_within_5_standard_errors(eta: float) -> None:
    for name in DEFAULT_FAMILIES:
        pm = phase_map(parse_family(name), sigma_grid(0.1, 1.0, 12), offset_grid(4), eta)
        recs = spot_checks(pm, samples=100_000, seed=SEED)
        assert len(recs) == 4
        for rec in recs:
            assert abs(rec["z"]) <= SPOT_Z, rec
            assert rec["ok"]
            assert rec["exact_ref_mean_fd"] == pytest.approx(rec["exact_mean_fd"], rel=1e-9, abs=1e-12)
            assert rec["lh"] == (eta if eta > 0 else 0.1)


# ---------------------------------------------------------------- the rule of thumb


@lru_cache(maxsize=None)
def _rule(name: str, eta: float) -> Rule:
    return rule_of_thumb(parse_family(name), eta, TOL)


def test_uniform_rule_equals_the_counting_argument() -> None:
    """h -> 0: |E[D] - 1| <= tol for all widths w >= w* exactly when w* = m / (1 + tol), m = 1 / tol (= 20)."""
    rule = _rule("uniform", 0.0)
    w_star = 20 / (1 + TOL)
    assert rule.sigma_star == pytest.approx(w_star / math.sqrt(12.0), rel=1e-6)


def test_laplace_rule_equals_the_closed_form() -> None:
    """h -> 0, offset 1/2: E[D] - 1 = 2 sum 1 / (1 + (2 pi b l)^2) = coth(1/(2b)) / (2b) - 1 (b = sigma / sqrt 2)."""
    def excess(sd: float) -> float:
        x = 1.0 / (2.0 * sd / math.sqrt(2.0))
        return x / math.tanh(x) - 1.0 - TOL

    assert _rule("laplace", 0.0).sigma_star == pytest.approx(optimize.brentq(excess, 0.5, 5.0, xtol=1e-14), rel=1e-8)


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("name", FAMILIES)
@settings(max_examples=60, deadline=None, derandomize=True)
@given(u=st.floats(0.0, 1.0), offset=st.floats(0.0, 1.0, exclude_max=True))
def test_rule_holds_at_random_points_by_the_cdf_sum(name: str, eta: float, u: float, offset: float) -> None:
    """Any sigma_s >= sigma_s* (up to 4 sigma_B, log-uniform) and any offset: |E[D] - 1| <= tolerance."""
    rule = _rule(name, eta)
    sd = rule.sigma_star * (4.0 * rule.sigma_bound / rule.sigma_star) ** u
    fd, _ = cdf_sums(parse_family(name), sd, [offset], eta)
    assert abs(fd[0] - 1.0) <= TOL + 1e-9


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("name", FAMILIES)
def test_rule_is_the_smallest_such_sigma(name: str, eta: float) -> None:
    """Just below sigma_s* some offset violates the tolerance (CDF sums on 4096 offsets)."""
    rule = _rule(name, eta)
    fd, _ = cdf_sums(parse_family(name), rule.sigma_star * (1 - 1e-3), offset_grid(4096), eta)
    assert np.max(np.abs(fd - 1.0)) > TOL


def test_full_step_needs_no_spread() -> None:
    """L h = 1: E[D] = 1 exactly for every input, so sigma_s* = 0 and one bit suffices."""
    rule = rule_of_thumb(parse_family("normal"), 1.0, TOL)
    assert rule.sigma_star == 0.0 and int(min_bits(rule.sigma_star, 0.1)) == 1


@pytest.mark.parametrize("name", FAMILIES)
def test_stability_bound_dominates_and_decreases(name: str) -> None:
    family = parse_family(name)
    sigmas = sigma_grid(0.05, 8.0, 25)
    bounds = np.array([stability_bound(family, float(sd), 0.3) for sd in sigmas])
    assert np.all(np.diff(bounds) <= 1e-15)
    for sd, bound in zip(sigmas, bounds):
        fd, _ = cdf_sums(family, float(sd), offset_grid(64), 0.3)
        assert np.max(np.abs(fd - 1.0)) <= bound + 1e-9  # slack: the t sums leave 1e-11 in each tail


@given(sigma_star=st.floats(0.01, 50.0), sd=st.floats(1e-3, 1.0))
def test_min_bits_is_the_fewest_bits_with_enough_spread(sigma_star: float, sd: float) -> None:
    k = int(min_bits(sigma_star, sd))
    assert k >= 1
    assert (2**k - 1) * sd >= sigma_star * (1 - 1e-12)
    if k > 1:
        assert (2 ** (k - 1) - 1) * sd < sigma_star * (1 + 1e-12)


@pytest.mark.parametrize("text", ["cauchy", "t(2)", "t(x)", "t(inf)", "normal(0,1)"])
def test_bad_family_is_a_user_error(text: str) -> None:
    with pytest.raises(StecheckError):
        parse_family(text)


# ---------------------------------------------------------------- command line

SMALL = ["--sigma-max", "2", "--sigma-points", "12", "--offset-points", "8", "--samples", "20000", "--seed", "11", "--quiet"]


def test_cli_json_prints_rule_records(runner) -> None:
    result = invoke(runner, "phase", *SMALL, "--family", "normal", "--family", "t(4)", "--sd", "0.05", "--no-save", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"meta", "records"}
    assert data["meta"]["command"] == "phase" and data["meta"]["seed"] == "11"
    assert [r["family"] for r in data["records"]] == ["normal", "t(4)"]
    for rec in data["records"]:
        assert set(rec) == set(RULE_FIELDS)
        assert rec["k_min"] == int(min_bits(rec["sigma_s_star"], 0.05))


def test_cli_out_writes_records_and_figures(runner, tmp_path: Path) -> None:
    out = tmp_path / "phase"
    result = invoke(runner, "phase", *SMALL, "--family", "laplace", "--h", "0.5", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    for sub in (out, out / "map", out / "spot"):
        assert {"records.csv", "records.json", "records.md", "meta.json"} <= {p.name for p in sub.iterdir()}
    assert (out / "phase_map.png").stat().st_size > 0 and (out / "worst_case.png").stat().st_size > 0
    rows = json.loads((out / "map" / "records.json").read_text())["records"]
    assert len(rows) == 12 and all(r["fd_gap"] <= 1e-9 for r in rows)


@pytest.mark.parametrize(
    "args",
    [["--family", "cauchy"], ["--h", "1.5"], ["--h", "-0.1"], ["--tolerance", "0"], ["--sd", "-1"], ["--offset-points", "1"],
     ["--family", "t(1)"], ["--seed", "abc"]],
)
def test_cli_user_errors_are_one_line_and_write_nothing(runner, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "never"
    result = invoke(runner, "phase", *SMALL, *args, "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not out.exists()


def test_cli_unwritable_out_fails_fast(runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(runner, "phase", *SMALL, "--out", str(blocker / "sub"))
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write")


def test_cli_table_and_failed_spot_check_exit_code(runner, monkeypatch) -> None:
    ok = invoke(runner, "phase", *SMALL, "--family", "normal", "--no-save")
    assert ok.exit_code == 0 and "sigma_s*" in ok.stdout and "k_min" in ok.stdout
    monkeypatch.setattr("stecheck.claims.phase.run.SPOT_Z", -1.0)  # no |z| is <= -1: every spot check fails
    failed = invoke(runner, "phase", *SMALL, "--family", "normal", "--no-save")
    assert failed.exit_code == 1 and "NO" in failed.stdout


def test_a_spot_check_with_no_crossing_is_judged_by_the_chance_of_seeing_none() -> None:
    """No crossing observed (mean 0, no SE): plausible when few crossings are expected, a failure when many are.

    For L h < 1 a sample crosses with probability p = L h E[D_h], so P(no crossing in N) = (1 - p)^N exactly;
    the bound the check uses, exp(-N p), is at least that, so it never fails a run the exact law would pass.
    """
    from scipy.stats import norm

    assert spot_z(1.0, 0.01, 1.0, 10_000, 0.5) == 0.0
    assert spot_z(1.02, 0.01, 1.0, 10_000, 0.5) == pytest.approx(2.0)
    few = spot_z(0.0, None, 0.02, 100, 0.5)  # one crossing expected: seeing none has probability ~0.37
    assert -1.0 < few <= 0.0 and abs(few) <= SPOT_Z
    assert few >= norm.ppf((1 - 0.5 * 0.02) ** 100)  # never stricter than the exact binomial law
    many = spot_z(0.0, None, 0.5, 1000, 0.5)  # 250 crossings expected, none seen
    assert many < -SPOT_Z
    assert spot_z(0.0, None, 0.0, 1000, 0.5) == 0.0
    assert spot_z(0.3, None, 0.0, 1000, 0.5) == math.inf  # a value where none can be
    assert spot_z(0.0, None, 2.0, 10, 3.0) == pytest.approx(norm.ppf(math.exp(-10 * 3.0 * 2.0 / 4)))
