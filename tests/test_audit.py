"""stecheck audit: verdicts follow the numbers, every number follows the seed, the Fourier pieces are right."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import special, stats
from stecheck.claims.audit.rows import bits_text
from stecheck.claims.audit.run import (
    AUDIT_FIELDS,
    AuditConfig,
    Case,
    RecordIndex,
    audit,
    fourier_prediction,
    fourier_row,
    verdict_all,
    verdict_implication,
    weights_conclusion_row,
    weights_mean_zero_row,
)
from stecheck.claims.audit.steps import step_cancel, step_definition, step_identity_slope, step_mean_zero, step_zero_error_slope
from stecheck.claims.audit.sums import expected_level, expected_slope, slope_noise, stratified_slope
from stecheck.claims.audit.truths import slope_cases
from stecheck.config import RunConfig
from stecheck.core.distributions import parse_input
from stecheck.core.exact import exact_mean_fd
from stecheck.core.quantize import levels
from stecheck.engine.runner import run
from stecheck.errors import ConfigError
from tests.conftest import SEED, invoke

#: A small audit: one bit width, few samples (the verdicts below are many standard errors from their edges).
SMALL = AuditConfig(bits=(1,), samples=40_000, seed=SEED, inputs=("normal(0.5,0.15)", "onlevel(0.4)"),
                    smooth_inputs=("normal(0.5,0.15)",), points=(0.0, 0.3))


def verdicts(cfg: AuditConfig) -> dict[str, str]:
    return {rec["step"]: rec["verdict"] for rec in audit(cfg).records}


@pytest.fixture(scope="module")
def small() -> dict[str, str]:
    return verdicts(SMALL)


def test_default_audit_has_one_row_per_step_and_positive_result(small: dict[str, str]) -> None:
    assert list(small) == ["1", "2", "3", "4", "5", "6", "7", "8", "8'", "9", "A", "SR", "DITHER", "F"]
    assert set(small.values()) <= {"holds", "fails", "holds-only-if"}


def _row(result, step: str) -> dict:
    return next(r for r in result.records if r["step"] == step)


def test_every_decisive_case_is_counted_and_fixed_cases_decide_nothing() -> None:
    result = audit(replace(SMALL, inputs=("uniform(0,1)", *SMALL.inputs)))
    for row in result.rows:
        assert row.headline().counted, row.step  # with uniform(0,1), step 8' has cases satisfying its premise
    # flipping every case that is not counted leaves every verdict as it was
    for row in result.rows:
        if any(not c.counted for c in row.cases):
            flipped = [replace(c, passed=not c.passed) if not c.counted else c for c in row.cases]
            judge = verdict_implication if row.step in ("8'", "9") else verdict_all
            assert judge(flipped) == row.verdict, row.step


def test_step_8_holds_only_with_point_masses_on_the_levels(small: dict[str, str]) -> None:
    assert small["8"] == "fails"  # continuous inputs: P(n = 0) = 0
    # 0 is a level at every k: P(n != 0) = 1/10 exactly, below 1/2
    on_levels = audit(replace(SMALL, inputs=("mix(0.9*point(0),0.1*uniform(0,1))",)))
    row = _row(on_levels, "8")
    assert row["verdict"] == "holds"
    case = row["cases"][0]
    assert case["exact"] == pytest.approx(0.1, abs=1e-15)
    assert abs(case["value"] - 0.1) <= 5 * math.sqrt(0.1 * 0.9 / SMALL.samples)
    # the same masses a quarter step off the level (0.25 at k = 1): n = -1/4 there, P(n != 0) = 1
    off_levels = replace(SMALL, inputs=("mix(0.9*point(0.25),0.1*uniform(0,1))",))
    assert verdicts(off_levels)["8"] == "fails"
    both = _row(audit(replace(SMALL, inputs=("normal(0.5,0.15)", "mix(0.9*point(0),0.1*uniform(0,1))"))), "8")
    assert both["verdict"] == "holds-only-if" and "holds for mix(0.9*point(0),0.1*uniform(0,1)) k=1" in both["condition"]


def _index(specs: tuple[str, ...], bits: tuple[int, ...] = (1,), h: float = 1e-3) -> RecordIndex:
    config = RunConfig(inputs=specs, bits=bits, steps=(h,), schemes=("forward",), samples=40_000, seed=SEED)
    return RecordIndex.of(run(config).records, 40_000)


def test_step_8_prime_is_judged_on_its_premise_and_reports_the_rest_apart() -> None:
    specs = ("uniform(0,1)", "normal(0.5,0.15)", "normal(0.3,0.1)")
    index = _index(specs, bits=(1, 3))
    row = step_mean_zero(index, specs, (1, 3), 1e-3, 5.0)
    assert row.verdict == "holds"
    # n is uniform (|phi(2 pi l)| <= 1e-6) for uniform(0,1) at every k and for normal(0.5,0.15) at k = 3:
    # |phi(2 pi)| = exp(-2 pi^2 sigma_s^2) with sigma_s = 7 * 0.15
    assert math.exp(-2 * math.pi**2 * (7 * 0.15) ** 2) < 1e-6 < math.exp(-2 * math.pi**2 * 0.15**2)
    counted = {(c.label, c.k) for c in row.cases if c.counted}
    assert counted == {("uniform(0,1)", 1), ("uniform(0,1)", 3), ("normal(0.5,0.15)", 3)}
    # reported apart: E[n] = 0 with n not uniform (symmetric about the threshold 1/2), and E[n] != 0
    assert "E[n] = 0 also where n is not uniform" in row.evidence and "normal(0.5,0.15) k=1" in row.evidence
    off = next(c for c in row.cases if (c.label, c.k) == ("normal(0.3,0.1)", 1))
    assert not off.counted and not off.passed
    # the verdict can go the other way: a premise cell whose E[n] is not 0 refutes the implication
    key = ("uniform(0,1)", 3, 1e-3)
    index[key] = dict(index[key], exact_mean_n=1e-3, mean_n=1e-3 + 10 * index[key]["mean_n_se"])
    assert step_mean_zero(index, specs, (1, 3), 1e-3, 5.0).verdict == "fails"
    # no input satisfies the premise: nothing can refute it
    vacuous = step_mean_zero(index, ("normal(0.3,0.1)",), (1,), 1e-3, 5.0)
    assert vacuous.verdict == "holds" and vacuous.condition.startswith("Vacuously")


def _mean_fd_normal(mu: float, sigma: float, k: int, h: float) -> float:
    """(Delta/h) sum_j [Phi(t_j) - Phi(t_j - h)] over thresholds t_j = (j + 1/2)/L (scipy.special.ndtr)."""
    scale = 2**k - 1
    t = (np.arange(-10 * scale, 11 * scale) + 0.5) / scale
    return float(np.sum(special.ndtr((t - mu) / sigma) - special.ndtr((t - h - mu) / sigma))) / (scale * h)


def test_step_9_decides_on_the_exact_value_where_there_is_one(small: dict[str, str]) -> None:
    assert small["9"] == "fails"
    assert verdicts(replace(SMALL, inputs=("uniform(0,1)",)))["9"] == "holds"
    # normal(0.5,0.15) at k = 2: E[n] = 0 (symmetric about the threshold 1/2), E[D_h] = 1.0367 exactly, which
    # 40,000 samples cannot tell from 1 (SE about 0.09) but the exact value can
    reference = _mean_fd_normal(0.5, 0.15, 2, 1e-3)
    assert reference == pytest.approx(1.0367, abs=1e-4)
    row = _row(audit(replace(SMALL, bits=(2,), inputs=("normal(0.5,0.15)",))), "9")
    case = row["cases"][0]
    assert case["exact"] == pytest.approx(reference, abs=1e-9)
    assert abs(case["value"] - 1.0) <= 5 * case["se"]
    assert row["verdict"] == "fails" and not case["passed"]


def test_algebraic_steps_flip_on_a_wrong_map(small: dict[str, str]) -> None:
    """Steps 1, 2, 3 and 6 are algebra about quantize_k: fed another map they reach the other verdict."""
    assert (small["1"], small["2"], small["3"], small["6"]) == ("holds", "holds", "holds", "fails")
    bits = (1, 3)
    # 2^k in place of 2^k - 1: 2^k + 1 values on the grid 1/2^k, not multiples of 1/L
    assert step_definition(bits, SEED, lambda r, k: np.rint(2**k * r) / 2**k).verdict == "fails"
    # the unrounded quantizer in float32 misses r by about 1e-8, far more than 4 float64 epsilons
    f32 = lambda r, k: (np.float32(levels(k)) * r.astype(np.float32) / np.float32(levels(k))).astype(np.float64)  # noqa: E731
    assert step_cancel(bits, SEED, f32).verdict == "fails"
    # a scale that does not cancel, (L r)/(L + 1): slope L/(L + 1) (1/2 at k = 1)
    row = step_identity_slope(bits, SEED, tilde=lambda r, k: levels(k) * r / (levels(k) + 1))
    assert row.verdict == "fails" and row.cases[0].value == pytest.approx(1.5, abs=1e-6)
    # without round() the slope at the levels is 1: step 6 holds for the identity map
    assert step_zero_error_slope(bits, quantizer=lambda r, k: np.asarray(r, dtype=float)).verdict == "holds"


def test_steps_5_and_7_depend_on_the_bit_width(small: dict[str, str]) -> None:
    assert small["5"] == small["7"] == "holds"  # L = 1: n/L = n
    wider = verdicts(replace(SMALL, bits=(2,)))
    assert wider["5"] == wider["7"] == "fails"
    mixed = verdicts(replace(SMALL, bits=(1, 3)))
    assert mixed["5"] == mixed["7"] == "holds-only-if"


def test_positive_rows_and_step_4_follow_the_rounding(small: dict[str, str]) -> None:
    assert small["SR"] == small["DITHER"] == "holds"
    assert small["4"] == "holds-only-if"
    deterministic = verdicts(replace(SMALL, randomized=("half-even",)))
    assert deterministic["half-even"] == "fails"  # d/dr q(r) = 0 at r = 0 and r = 0.3
    assert deterministic["4"] == "fails"


def test_step_4_shows_the_claimed_slope_against_the_measured_one() -> None:
    row = _row(audit(SMALL), "4")
    assert row["target"] == 1.0 and row["value"] == 0.0 and row["input"] == "deterministic round()"
    labels = {c["label"] for c in row["cases"] if c["passed"]}
    assert labels == {"stochastic rounding", "dither"}
    assert "it fails for deterministic round() k=1" in row["condition"]


def test_expected_slopes_are_finite_sums_over_the_outcomes() -> None:
    h = 1e-3
    for rounding in ("stochastic", "dither"):
        for r in (0.0, 0.5, 0.37, -2.3):
            for k in (1, 4):
                for scheme in ("forward", "central"):
                    assert expected_slope(r, k, h, rounding, scheme) == 1
    # deterministic rounding at the threshold r = 1/2 (k = 1): half-even rounds 1/2 down, half-up up
    inv_h = 1 / Fraction(h)
    assert expected_slope(0.5, 1, h, "half-even", "forward") == inv_h
    assert expected_slope(0.5, 1, h, "half-up", "forward") == 0
    assert expected_slope(0.5, 1, h, "half-up", "central") == inv_h
    assert expected_slope(0.37, 1, h, "half-even", "central") == 0
    # E[floor(s + U)] for s = 7/4: 1 with probability 1/4, 2 with probability 3/4
    assert expected_level(Fraction(7, 4), "stochastic") == Fraction(7, 4)
    assert expected_level(Fraction(5, 2), "half-even") == 2 and expected_level(Fraction(5, 2), "half-up") == 3


def test_stratified_slope_rejects_a_slope_of_095_at_the_default_size() -> None:
    """The SR/DITHER standard error at the default sample count and the hardest cell (k = 1, h = 1e-3)
    resolves a 5% error: a rounding with expected slope 0.95 is measured at 0.95, more than 5 SE from 1."""
    noise = slope_noise(SEED, AuditConfig.samples)
    biased = stratified_slope(lambda s, u: np.floor(0.95 * s + u), 0.37, 1, 1e-3, noise)
    assert abs(biased[0] - 0.95) <= 5 * biased[1] and abs(biased[0] - 1.0) > 5 * biased[1]
    cases = slope_cases("stochastic", AuditConfig.points, (1,), 1e-3, 5.0, noise)
    assert all(c.passed and 5 * c.se < 0.05 for c in cases)


def test_identity_a_does_not_count_the_tautological_cells_and_fails_at_rounding_ties() -> None:
    row = _row(audit(SMALL), "A")
    assert row["verdict"] == "holds"
    at_one = [c for c in row["cases"] if c["h"] == 1.0]
    assert at_one and all(c["counted"] is False and c["value"] == 1.0 and c["se"] == 0.0 for c in at_one)
    assert all("counted" not in c for c in row["cases"] if c["h"] != 1.0)
    # a point mass on the level 0 puts the window end of Lh = 1/2 on a tie, which half-even rounds down:
    # E[D_h] = 1/2 (the uniform half) but F_n(0)/(1/2) = (1/2 + 1/4)/(1/2) = 3/2
    tie = _row(audit(replace(SMALL, inputs=("mix(0.5*point(0),0.5*uniform(0,1))",))), "A")
    assert tie["verdict"] == "holds-only-if"
    bad = [c for c in tie["cases"] if not c["passed"]]
    assert [c["h"] for c in bad] == [0.5]
    assert bad[0]["exact"] == pytest.approx(0.5, abs=1e-12) and bad[0]["target"] == pytest.approx(1.5, abs=1e-12)


def _fourier_normal(mu: float, sigma: float, k: int) -> float:
    """2 sum_{l>=1} (-1)^l Re phi(2 pi l), phi(u) = exp(i u mu_s - u^2 sigma_s^2 / 2), s = L r."""
    scale = 2**k - 1
    return 2 * sum((-1) ** l * math.exp(-2 * math.pi**2 * l**2 * (scale * sigma) ** 2) * math.cos(2 * math.pi * l * scale * mu)
                   for l in range(1, 60))


def test_fourier_row_decides_on_large_predictions_and_fails_at_a_density_jump() -> None:
    specs = ("normal(0.5,0.15)", "uniform(0.5,0.9)")
    index = _index(specs, bits=(1, 3))
    row = fourier_row(index, ("normal(0.5,0.15)",), (1, 3), 1e-3, 5.0)
    assert row.verdict == "holds"
    big, tiny = row.cases
    assert big.target == pytest.approx(_fourier_normal(0.5, 0.15, 1), abs=1e-12)
    # the h -> 0 limit from the density at the thresholds j + 1/2 (k = 1): sum_j p(j + 1/2) - 1
    density = sum(float(stats.norm.pdf(j + 0.5, 0.5, 0.15)) for j in range(-5, 6))
    assert big.value == pytest.approx(density - 1.0, abs=1e-12)
    assert big.target == pytest.approx(1.6596, abs=1e-4) and big.counted
    assert abs(tiny.target) < 1e-9 and not tiny.counted  # k = 3: prediction 7e-10, not decisive
    assert row.headline() is big
    # uniform(0.5,0.9) at k = 1: the density jumps from 0 to 2.5 at the threshold 1/2. The forward limit sees
    # the left value (E[D_h] -> 0), the Fourier sum the average 1.25
    jump = fourier_row(index, ("uniform(0.5,0.9)",), (1,), 1e-3, 5.0)
    assert jump.verdict == "fails"
    assert jump.cases[0].value == pytest.approx(-1.0, abs=1e-12) and jump.cases[0].target == pytest.approx(0.25, abs=1e-9)
    mixed = fourier_row(index, specs, (1,), 1e-3, 5.0)
    assert mixed.verdict == "holds-only-if" and "fails for uniform(0.5,0.9) k=1" in mixed.condition


def test_fourier_row_needs_a_decisive_cell() -> None:
    with pytest.raises(ConfigError, match="at least 0.01"):
        AuditConfig(bits=(4,), smooth_inputs=("normal(0.5,0.15)",)).validated()


def test_bit_width_runs() -> None:
    assert (bits_text([3, 1, 2, 5]), bits_text([4]), bits_text([1, 3, 5, 6])) == ("1-3,5", "4", "1,3,5-6")


def test_verdict_rules() -> None:
    ok = Case("x", 1, 1.0, 1.0, True)
    bad = Case("x", 1, 0.0, 1.0, False)
    assert (verdict_all([ok, ok]), verdict_all([bad]), verdict_all([ok, bad])) == ("holds", "fails", "holds-only-if")
    assert (verdict_implication([ok]), verdict_implication([ok, bad])) == ("holds", "fails")


@pytest.mark.parametrize("spec,k", [("normal(0.5,0.15)", 1), ("normal(0.3,0.1)", 2), ("logistic(0.4,0.05)", 1),
                                    ("laplace(0.45,0.1)", 2), ("t(5,0.2,0.03)", 3)])
@pytest.mark.parametrize("a", [1e-3, 0.3, 1.0])
def test_fourier_prediction_equals_the_exact_cdf_sum(spec: str, k: int, a: float) -> None:
    scale = levels(k)
    finite, limit = fourier_prediction(spec, k, a / scale)
    exact = exact_mean_fd(parse_input(spec), k, "half-even", "forward", a / scale)
    assert finite == pytest.approx(exact - 1.0, abs=1e-8)
    # the h -> 0 limit is the finite-h prediction at vanishing step (bias about a f_n'(-1/2) / 2)
    tiny, _ = fourier_prediction(spec, k, 1e-9 / scale)
    assert limit == pytest.approx(tiny, abs=1e-5 * max(1.0, abs(limit)))


def test_fourier_row_refuses_inputs_without_a_closed_form() -> None:
    with pytest.raises(ConfigError, match="Fourier row"):
        AuditConfig(smooth_inputs=("beta(2,3)",)).validated()


def _weights_records(tmp_path: Path) -> dict[str, list]:
    from stecheck.weights import open_source, scan, select

    rng = np.random.Generator(np.random.PCG64(SEED))
    np.savez(tmp_path / "m.npz", sym=rng.normal(0.0, 0.05, (256, 128)), skew=rng.laplace(0.01, 0.02, (128, 64)))
    source = open_source(str(tmp_path / "m.npz"))
    records = scan(source.label, select(source.tensors), (1,), (1e-3,), "dorefa")
    return {name: [r for r in records if r["tensor"] == name] for name in ("sym", "skew")}


def test_weights_rows_follow_the_tensors(tmp_path: Path) -> None:
    tensors = _weights_records(tmp_path)
    # at k = 1 the transformed weights fill one cell unevenly: n is not uniform, so step 8' holds vacuously,
    # and the cells are shown apart (symmetric weights have E[n] = 0 anyway, skewed ones do not)
    eight = weights_mean_zero_row(tensors["sym"] + tensors["skew"], (1,), 1e-3, 5.0)
    assert eight.verdict == "holds" and eight.condition.startswith("Vacuously")
    assert [c.counted for c in eight.cases] == [False, False]
    assert [c.passed for c in eight.cases] == [True, False] and "E[n] = 0 within 5 SE also in 1 of 2" in eight.evidence
    # symmetric weights: DoReFa maps w = 0 to the threshold 1/2, so E[n] = 0 but E[D_h] is far above 1 at k = 1
    nine = weights_conclusion_row(tensors["sym"], (1,), 1e-3, 5.0)
    assert nine.verdict == "fails" and nine.headline().value > 2.0
    # skewed weights: E[n] far from 0, so step 9 has no premise to stand on
    assert weights_conclusion_row(tensors["skew"], (1,), 1e-3, 5.0).condition.startswith("Vacuously")


def _tilted_errors(size: int, c: float) -> NDArray[np.float64]:
    """Quantiles ``F^-1((i + 1/2) / size)`` of the density ``1 + 2 c n`` on [-1/2, 1/2]: mean c/6 and KS distance
    c/4 (+ 1/(2 size)) to the uniform law, with no sampling noise."""
    u = (np.arange(size) + 0.5) / size
    # F(n) = (n + 1/2) + c (n^2 - 1/4); solve c n^2 + n + 1/2 - c/4 - u = 0 for the root in [-1/2, 1/2]
    return (-1.0 + np.sqrt(1.0 - 4.0 * c * (0.5 - c / 4.0 - u))) / (2.0 * c)


def test_weights_row_8w_can_fail_where_n_passes_the_uniformity_test(tmp_path: Path) -> None:
    from stecheck.claims.audit.truths import uniform_level
    from stecheck.weights import open_source, scan, select

    size, scale = 1 << 20, levels(8)
    # tilt c = 9.8 / sqrt(size): E[n] = c/6 is 5.66 SE from 0, while KS = c/4 = 2.45/sqrt(size) keeps p near 1e-5
    n = _tilted_errors(size, 9.8 / math.sqrt(size))
    assert n.mean() / math.sqrt(n.var() / size) > 5.5
    cells = np.arange(size) % (scale - 1) + 1  # levels 1..L-1, so r = (m - n) / L stays inside [0, 1]
    r = np.concatenate([[0.0, 1.0], (cells - n) / scale])  # the end points fix the minmax transform to r itself
    np.save(tmp_path / "tilt.npy", r)
    source = open_source(str(tmp_path / "tilt.npy"))
    records = [rec for rec in scan(source.label, select(source.tensors, all_tensors=True), (8,), (1e-3,), "minmax") if rec["kind"] == "tensor"]
    assert records[0]["ks_pvalue"] > uniform_level(5.0)
    row = weights_mean_zero_row(records, (8,), 1e-3, 5.0)
    assert row.verdict == "fails" and row.cases[0].counted and "premise true" in row.cases[0].note
    # the same tensor judged at z = 6 holds (the mean is 5.66 SE out): the verdict turns on the standard error
    assert weights_mean_zero_row(records, (8,), 1e-3, 6.0).verdict == "holds"
    # and untilted quantiles: n uniform, E[n] = 0, the implication holds
    r = np.concatenate([[0.0, 1.0], (cells - ((np.arange(size) + 0.5) / size - 0.5)) / scale])
    np.save(tmp_path / "flat.npy", r)
    source = open_source(str(tmp_path / "flat.npy"))
    records = [rec for rec in scan(source.label, select(source.tensors, all_tensors=True), (8,), (1e-3,), "minmax") if rec["kind"] == "tensor"]
    assert weights_mean_zero_row(records, (8,), 1e-3, 5.0).verdict == "holds"


# ---------------------------------------------------------------- the command

CLI = ["--bits", "1", "--samples", "20000", "--quiet"]


def test_every_number_is_reproducible_from_the_recorded_seed(runner) -> None:
    first = invoke(runner, "audit", *CLI, "--no-save", "--format", "json")
    assert first.exit_code == 0, first.stderr
    data = json.loads(first.stdout)
    seed = data["meta"]["seed"]
    assert int(seed) > 2**64  # fresh 128-bit entropy, recorded
    again = json.loads(invoke(runner, "audit", *CLI, "--no-save", "--format", "json", "--seed", seed).stdout)
    assert again["records"] == data["records"]
    other = json.loads(invoke(runner, "audit", *CLI, "--no-save", "--format", "json", "--seed", "1").stdout)
    assert other["records"] != data["records"]  # the comparison above can fail


def test_json_contract_and_files(runner, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    result = invoke(runner, "audit", *CLI, "--seed", "3", "--out", str(out), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"meta", "records"} and data["meta"]["seed"] == "3"
    for rec in data["records"]:
        assert list(rec) == list(AUDIT_FIELDS)
        assert rec["cases"] and rec["verdict"] in ("holds", "fails", "holds-only-if")
        assert "|" not in rec["claim"] + rec["condition"] + rec["evidence"]  # safe in Markdown tables
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "records.csv", "records.json", "records.md"]
    assert json.loads((out / "records.json").read_text())["records"] == data["records"]
    md = invoke(runner, "audit", *CLI, "--seed", "3", "--no-save", "--format", "md").stdout
    assert md.count("\n| 8' | holds") == 1
    table = invoke(runner, "audit", *CLI, "--seed", "3", "--no-save").stdout
    assert "holds-only-if" in table and "DITHER" in table


@pytest.mark.parametrize("args,needle", [
    (["--bits", "0"], "out of range"),
    (["--samples", "0"], "sample count"),
    (["--seed", "abc"], "seed"),
    (["--threads", "0"], "thread"),
    (["--format", "xml"], "format"),
    (["--bits", "4"], "fourier row"),  # no smooth input has a resolvable Fourier prediction at k = 4
])
def test_bad_input_gives_one_line_error_and_no_files(runner, tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "out"
    result = invoke(runner, "audit", "--samples", "1000", "--quiet", "--out", str(out), *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0].lower()
    assert not out.exists() or not any(out.iterdir())
    assert result.stdout == ""


def test_weights_option_adds_rows_and_bad_sources_are_one_line_errors(runner, tmp_path: Path) -> None:
    _weights_records(tmp_path)
    result = invoke(runner, "audit", *CLI, "--seed", "3", "--no-save", "--format", "json", "--weights", str(tmp_path / "m.npz"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["step"] for r in data["records"]][-2:] == ["8'W", "9W"]
    assert data["meta"]["weights"]["tensors"] == ["sym", "skew"]
    out = tmp_path / "out"
    bad = invoke(runner, "audit", *CLI, "--out", str(out), "--weights", str(tmp_path / "missing.npz"))
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_out_dir(runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke(runner, "audit", *CLI, "--out", str(blocker / "sub"))
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot write to output directory")


def test_committed_audit_was_written_by_the_default_command() -> None:
    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "results" / "audit" / "records.json").read_text())
    cfg = data["meta"]["config"]
    defaults = json.loads(json.dumps(AuditConfig().validated().as_dict()))
    assert {k: v for k, v in cfg.items() if k != "seed"} == {k: v for k, v in defaults.items() if k != "seed"}
    assert [r["step"] for r in data["records"]] == ["1", "2", "3", "4", "5", "6", "7", "8", "8'", "9", "A", "SR", "DITHER", "F"]


@pytest.mark.slow
def test_committed_audit_is_reproduced_from_its_recorded_seed() -> None:
    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "results" / "audit" / "records.json").read_text())
    fresh = audit(AuditConfig(seed=int(data["meta"]["seed"]))).records
    assert [(r["step"], r["verdict"]) for r in fresh] == [(r["step"], r["verdict"]) for r in data["records"]]
    for new, old in zip(fresh, data["records"]):
        assert len(new["cases"]) == len(old["cases"])
        for a, b in zip(new["cases"], old["cases"]):
            assert (a["label"], a["k"], a["passed"]) == (b["label"], b["k"], b["passed"])
            for key in ("value", "se", "exact", "target"):
                if b.get(key) is None:
                    assert a.get(key) is None, (new["step"], a["label"], key)
                else:
                    assert a.get(key) == pytest.approx(b.get(key), rel=1e-9, abs=1e-12), (new["step"], a["label"], key)
