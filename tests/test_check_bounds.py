"""Bounds files: parsing, defaults, expansion over k, and one error naming the bound and the field."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from stecheck.claims.check.bounds import STATISTICS, BoundsError, load_bounds, parse_bounds, parse_statistic
from stecheck.errors import StecheckError

GOOD: dict[str, Any] = {
    "name": "uniform E[n]",
    "source": "uniform(0,1)",
    "k": 3,
    "statistic": "mean_n",
    "target": 0.0,
    "within_se": 5,
    "samples": 1000,
    "seed": 7,
}


def one(**changes: Any) -> dict[str, Any]:
    """A bounds document with one bound: GOOD with ``changes`` (None deletes a field)."""
    bound = {**GOOD, **changes}
    return {"bound": [{k: v for k, v in bound.items() if v is not None}]}


def test_a_range_of_k_becomes_one_bound_per_bit_width() -> None:
    bounds = parse_bounds(one(k="1-3,6"), "b.toml")
    assert [b.k for b in bounds] == [1, 2, 3, 6]
    assert {b.name for b in bounds} == {"uniform E[n]"}
    assert all(b.file == "b.toml" and b.seed == 7 and b.samples == 1000 for b in bounds)
    assert parse_bounds(one(k=[2, "4-5"]), "b.toml")[-1].k == 5


def test_defaults_fill_fields_and_the_bound_wins() -> None:
    doc = {
        "defaults": {"samples": 500, "seed": "0x10", "h": 0.01, "rounding": "half-up", "fd": "central"},
        "bound": [
            {"name": "a", "source": "normal(0.5, 0.15)", "k": 2, "statistic": "mean_fd", "interval": [0, 2]},
            {"name": "b", "source": "normal(0.5,0.15)", "k": 2, "statistic": "mean_fd", "interval": [0, 2], "seed": 3, "h": 0.02},
        ],
    }
    a, b = parse_bounds(doc, "b.toml")
    assert (a.samples, a.seed, a.h, a.rounding, a.fd) == (500, 16, 0.01, "half-up", "central")
    assert (b.seed, b.h) == (3, 0.02)
    assert a.source == b.source == "normal(0.5,0.15)"  # canonical spec


def test_statistics_with_an_order_and_targets() -> None:
    assert parse_statistic("fourier_abs[3]") == ("fourier_abs", 3)
    assert parse_statistic("mean_fd") == ("mean_fd", None)
    bound = parse_bounds(one(statistic="fourier_abs[2]", within_se=None, within=0.01), "b.toml")[0]
    assert (bound.statistic, bound.order, bound.label) == ("fourier_abs", 2, "fourier_abs[2]")
    exact = parse_bounds(one(statistic="mean_fd", h=1e-3, target="exact"), "b.toml")[0]
    assert exact.target == "exact"


def test_exact_statistics_need_no_samples_or_seed() -> None:
    bound = parse_bounds(one(statistic="exact_mean_n", samples=None, seed=None, within_se=None, within=1e-9), "b.toml")[0]
    assert bound.samples is None and bound.seed is None


def test_condition_texts() -> None:
    def text(**changes: Any) -> str:
        return parse_bounds(one(**changes), "b.toml")[0].condition_text()

    assert text() == "within 5 SE of 0"
    assert text(expect="outside") == "beyond 5 SE of 0"
    assert text(within_se=None, target=None, interval=[0.9, math.inf]) == "in [0.9, inf]"
    assert text(within_se=None, target=None, interval=[-1, 1], expect="outside") == "outside [-1, 1]"
    assert text(within_se=None, within=0.05, statistic="mean_fd", h=1e-3, target="exact") == "within 0.05 of exact"


BAD = [
    (one(statistic="mean_m"), "statistic", "unknown statistic 'mean_m'"),
    (one(statistic="fourier_abs"), "statistic", "needs a Fourier order"),
    (one(statistic="fourier_abs[9]"), "statistic", "out of range"),
    (one(statistic="mean_n[1]"), "statistic", "takes no index"),
    (one(source=None), "source|weights", "give exactly one of source"),
    (one(weights="w.npz"), "source|weights", "give exactly one of source"),
    (one(tensor="fc"), "tensor", "only a weights source"),
    (one(source=None, weights="w.npz", tensor="fc["), "tensor", "bad regular expression"),
    (one(source=None, weights="w.npz", transform="tanh"), "transform", "unknown transform"),
    (one(source=None, weights="w.npz", statistic="chi2_stat"), "statistic", "not available for a weights source"),
    (one(source=None, weights="w.npz", statistic="exact_mean_n"), "statistic", "not available for a weights source"),
    (one(statistic="sqnr_db", within_se=None, within=1.0), "statistic", "not available for a distribution source"),
    (one(source=None, weights="w.npz"), "within_se", "a weight tensor is the whole population"),
    (one(source=None, weights="w.npz", within_se=None, within=0.1, target="exact"), "target", "no exact reference"),
    (one(source=None, weights="w.npz", rounding="stochastic", within_se=None, within=0.1), "rounding", "half-even"),
    (one(statistic=None), "statistic", "missing field"),
    (one(k=None), "k", "missing field"),
    (one(samples=None), "samples", "missing field"),
    (one(seed=None), "seed", "missing field"),
    (one(target=None), "target", "missing field"),
    (one(statistic="mean_fd"), "h", "missing field"),
    (one(within_se=None), "interval|within|within_se", "missing condition"),
    (one(within=0.1), "interval|within|within_se", "only one condition"),
    (one(within_se=None, target=None, interval=[2.0, 1.0]), "interval", "impossible interval: lo 2 > hi 1"),
    (one(within_se=None, target=None, interval=[1.0]), "interval", "not a pair"),
    (one(within_se=None, interval=[0, 1]), "target", "takes no target"),
    (one(within_se=-1), "within_se", "must be >= 0"),
    (one(statistic="ks_stat"), "within_se", "no standard error"),
    (one(statistic="exact_mean_n"), "within_se", "is exact"),
    (one(statistic="ks_stat", within_se=None, within=0.1, target="exact"), "target", "no exact reference"),
    (one(target="zero"), "target", "not a number"),
    (one(source="normal(0.5"), "source", ""),
    (one(source="gauss(0,1)"), "source", "gauss"),
    (one(k=0), "k", "out of range"),
    (one(k="3-1"), "k", "empty"),
    (one(rounding="nearest"), "rounding", "unknown rounding"),
    (one(fd="backward"), "fd", "unknown finite-difference scheme"),
    (one(statistic="mean_fd", h=0), "h", "must be > 0"),
    (one(samples=0), "samples", "positive integer"),
    (one(seed=-1), "seed", "negative"),
    (one(expect="maybe"), "expect", "expected 'inside' or 'outside'"),
    (one(statistc="mean_n"), "statistc", "unknown field"),
]


@pytest.mark.parametrize(("doc", "field", "message"), BAD)
def test_a_bad_bound_is_one_error_naming_the_bound_and_the_field(doc: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(BoundsError) as info:
        parse_bounds(doc, "b.toml")
    text = str(info.value)
    assert text.startswith(f"b.toml: bound 'uniform E[n]', field {field!r}: ")
    assert message in text
    assert "\n" not in text


def test_errors_outside_a_bound() -> None:
    with pytest.raises(BoundsError, match="no bounds"):
        parse_bounds({}, "b.toml")
    with pytest.raises(BoundsError, match="unknown top-level key"):
        parse_bounds({**one(), "bounds": []}, "b.toml")
    with pytest.raises(BoundsError, match=r"\[defaults\], field 'name'"):
        parse_bounds({**one(), "defaults": {"name": "x"}}, "b.toml")
    with pytest.raises(BoundsError, match=r"field 'name': duplicate"):
        parse_bounds({"bound": one()["bound"] * 2}, "b.toml")
    with pytest.raises(BoundsError, match=r"bound '#1', field 'name': missing field"):
        parse_bounds(one(name=None), "b.toml")


def test_load_bounds_reports_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(BoundsError, match="cannot read bounds file"):
        load_bounds(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[bound]\nname = 1\n", encoding="utf-8")
    with pytest.raises(BoundsError, match="not valid TOML"):
        load_bounds(bad)
    assert issubclass(BoundsError, StecheckError)


def test_every_statistic_reads_a_record_field() -> None:
    from stecheck.records import SIMULATE_FIELDS
    from stecheck.weights import WEIGHTS_FIELDS

    for stat in STATISTICS.values():
        if stat.for_dist:
            for field in (stat.field, stat.se_field, stat.exact_field):
                assert field is None or field in SIMULATE_FIELDS
        if stat.for_weights:
            assert stat.field in WEIGHTS_FIELDS


def test_a_weights_bound_needs_no_samples_or_seed() -> None:
    doc = one(source=None, weights="zoo:tiny", tensor="fc", samples=None, seed=None, within_se=None, within=0.1,
              statistic="mean_fd", h=1e-3)
    bound = parse_bounds(doc, "b.toml")[0]
    assert (bound.weights, bound.source, bound.tensor, bound.transform, bound.samples, bound.seed) == (
        True, "zoo:tiny", "fc", "dorefa", None, None)


def test_the_projects_bounds_file_parses_and_covers_its_claims() -> None:
    root = Path(__file__).resolve().parents[1]
    bounds = load_bounds(root / "experiments" / "bounds.toml")
    assert {b.k for b in bounds if b.source == "uniform(0,1)" and b.statistic == "mean_n" and b.within_se == 5} == set(range(1, 9))
    assert any(b.expect == "outside" and b.source.startswith("onlevel") for b in bounds)
    assert any(b.expect == "outside" and b.source.startswith("onthreshold") for b in bounds)
    assert any(b.rounding == "stochastic" and b.statistic == "mean_fd" and b.target == 1.0 for b in bounds)
    assert all(b.seed is not None for b in bounds if not b.stat.exact)
