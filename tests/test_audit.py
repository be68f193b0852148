"""stecheck audit: verdicts follow the numbers, every number follows the seed, the Fourier pieces are right."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from stecheck.audit import (
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
from stecheck.audit_rows import bits_text
from stecheck.config import RunConfig
from stecheck.distributions import parse_input
from stecheck.engine import run
from stecheck.errors import ConfigError
from stecheck.exact import exact_mean_fd
from stecheck.quantize import levels
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


def test_step_8_prime_verdict_follows_the_input(small: dict[str, str]) -> None:
    # symmetric about the threshold 1/2 and about a level: E[n] = 0 exactly
    assert small["8'"] == "holds"
    # normal(0.3,0.1) at k = 1: exact E[n] = -0.28
    assert verdicts(replace(SMALL, inputs=("normal(0.3,0.1)",)))["8'"] == "fails"
    both = audit(replace(SMALL, inputs=("normal(0.5,0.15)", "normal(0.3,0.1)")))
    row = next(r for r in both.records if r["step"] == "8'")
    assert row["verdict"] == "holds-only-if"
    assert "holds for normal(0.5,0.15) k=1" in row["condition"] and "fails for normal(0.3,0.1) k=1" in row["condition"]
    assert row["input"] == "normal(0.3,0.1)" and row["exact"] == pytest.approx(-0.2772, abs=1e-3)


def test_step_9_fails_on_counterexamples_and_holds_for_uniform_n(small: dict[str, str]) -> None:
    assert small["9"] == "fails"
    assert verdicts(replace(SMALL, inputs=("uniform(0,1)",)))["9"] == "holds"


def test_step_8_verdict_follows_the_mass_on_the_levels(small: dict[str, str]) -> None:
    assert small["8"] == "fails"  # continuous inputs: P(n = 0) = 0
    on_levels = replace(SMALL, inputs=("mix(0.9*point(0),0.1*uniform(0,1))",))
    assert verdicts(on_levels)["8"] == "holds"


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
    assert deterministic["half-even"] == "fails"  # d/dr E[q(r)] = 0 at r = 0 and r = 0.3
    assert deterministic["4"] == "fails"


def test_fourier_row_verdict_follows_the_measured_slope() -> None:
    specs = ("normal(0.5,0.15)", "logistic(0.4,0.05)")
    config = RunConfig(inputs=specs, bits=(1,), steps=(1e-3,), schemes=("forward",), samples=40_000, seed=SEED)
    index = RecordIndex.of(run(config).records, 40_000)
    assert fourier_row(index, specs, (1,), 1e-3, 5.0).verdict == "holds"
    # move one measured E[D_h] by 10 standard errors: that case no longer matches the prediction
    key = ("logistic(0.4,0.05)", 1, 1e-3)
    moved = dict(index[key], mean_fd=index[key]["mean_fd"] + 10 * index[key]["mean_fd_se"])
    index[key] = moved
    row = fourier_row(index, specs, (1,), 1e-3, 5.0)
    assert row.verdict == "holds-only-if" and "fails for logistic(0.4,0.05) k=1" in row.condition


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
    # symmetric weights: DoReFa maps w = 0 to the threshold 1/2, so E[n] = 0 but E[D_h] is far above 1 at k = 1
    assert weights_mean_zero_row(tensors["sym"], (1,), 1e-3, 5.0).verdict == "holds"
    nine = weights_conclusion_row(tensors["sym"], (1,), 1e-3, 5.0)
    assert nine.verdict == "fails" and nine.headline().value > 2.0
    # skewed weights: E[n] far from 0, so step 9 has no premise to stand on
    assert weights_mean_zero_row(tensors["skew"], (1,), 1e-3, 5.0).verdict == "fails"
    assert weights_conclusion_row(tensors["skew"], (1,), 1e-3, 5.0).condition.startswith("Vacuously")
    both = weights_mean_zero_row(tensors["sym"] + tensors["skew"], (1,), 1e-3, 5.0)
    assert both.verdict == "holds-only-if" and "m.npz:skew" in both.condition


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
