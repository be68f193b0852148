"""Cells where no crossing was observed (issue 13, item 5): no "0 +- 0"; a rule-of-three bound instead."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stecheck.claims.check.bounds import parse_bounds
from stecheck.claims.check.evaluate import condition_holds, evaluate
from stecheck.core.estimators import CellAccumulator, make_plans
from stecheck.engine.runner import simulate
from tests.conftest import SEED


def test_no_crossing_gives_no_standard_error_and_a_rule_of_three_bound() -> None:
    """clip(normal(-2,0.5)) k=1 h=1e-3: exact E[D_h] = 3e-6, no crossing in 100k draws (was 0 +- 0)."""
    rec = simulate("clip(normal(-2,0.5))", bits=1, h=1e-3, fd="forward", samples=100_000, seed=SEED)[0]
    assert rec["mean_fd"] == 0.0 and rec["p_fd_zero"] == 1.0
    assert rec["mean_fd_se"] is None
    n, lh = 100_000, 1e-3
    assert rec["mean_fd_upper"] == pytest.approx(-math.log(0.05) / n / lh, rel=1e-12)  # count <= floor(L h) + 1 = 1
    assert rec["exact_mean_fd"] <= rec["mean_fd_upper"]


def test_the_bound_covers_the_truth_at_its_level() -> None:
    """P(no crossing in N draws) = (1 - p)^N; at p = -ln(0.05)/N the rule-of-three bound equals E[count]
    and no crossing happens with probability 0.05: the bound is a 95% one: checked against binomial draws."""
    n = 2_000
    p = -math.log(0.05) / n
    rng = np.random.Generator(np.random.PCG64(SEED))
    none_crossed = np.mean(rng.binomial(n, p, size=200_000) == 0)
    assert none_crossed == pytest.approx(0.05, abs=5 * math.sqrt(0.05 * 0.95 / 200_000) + 2e-4)


def test_crossings_observed_keep_the_standard_error() -> None:
    acc = CellAccumulator(make_plans(["forward"], [0.1], 1))
    acc.count = 10
    acc.fd_sum[0], acc.fd_sumsq[0], acc.fd_zero[0] = 1, 1, 9
    slope = acc.slope_summary(0)
    assert slope.mean_fd_upper is None
    assert slope.mean_fd_se == pytest.approx(math.sqrt(0.09 / 10) / 0.1)


def _bound(target: float):
    return parse_bounds(
        {"bound": [{"name": "b", "source": "clip(normal(-2,0.5))", "k": 1, "statistic": "mean_fd", "fd": "forward",
                    "h": 1e-3, "samples": 100_000, "seed": 1, "target": target, "within_se": 5}]},
        "t.toml",
    )[0]


def test_check_judges_a_missing_se_by_the_upper_bound() -> None:
    b = _bound(1.0)
    assert condition_holds(b, 0.0, None, 0.02, upper=0.03)
    assert not condition_holds(b, 0.0, None, 0.04, upper=0.03)


@pytest.mark.parametrize("target,passed", [("exact", True), (1.0, False)])
def test_check_end_to_end_with_no_crossing(target, passed: bool) -> None:
    result = evaluate([_bound(target)])
    (v,) = result.verdicts
    assert v["se"] is None and v["upper"] == pytest.approx(-math.log(0.05) / 100_000 / 1e-3)
    assert v["passed"] is passed


@pytest.mark.parametrize("ste,verdict", [(1.0, "rejected"), (0.01, "consistent")])
def test_report_judges_a_no_crossing_cell_by_its_bound(ste: float, verdict: str) -> None:
    """0 observed, bound U = 0.03: an STE value of 1 is rejected, one of 0.01 (below U) is not."""
    from stecheck.views.report import Report, _simulate_section

    rec = simulate("clip(normal(-2,0.5))", bits=1, h=1e-3, fd="forward", samples=100_000, seed=SEED)[0]
    rec = {**rec, "ste": ste}
    report = Report()
    _simulate_section(report, [rec])
    key = [content for kind, content in report.blocks if kind == "table"][-1]
    (row,) = key.rows
    assert row[6] == f"0 ≤ {rec['mean_fd_upper']:.2g}"
    assert row[-1] == verdict
