"""A default command run twice writes the same records, and they equal the committed results at the
precision the README and the tables print (4 significant digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stecheck.records import fmt
from stecheck.seeds import AUDIT_SEED, PHASE_SEED, SIMULATE_SEED
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[1]


def run_default(runner, tmp_path: Path, monkeypatch, command: str, name: str) -> tuple[dict, list[dict]]:
    """``stecheck COMMAND -q`` with no other option, in a fresh folder; the records it wrote."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, command, "-q")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "results" / name / "records.json").read_text())
    return data["meta"], data["records"]


def printed(records: list[dict]) -> list[dict]:
    """Every field as the tables print it."""
    def show(value):
        if isinstance(value, list):
            return [show(v) for v in value]
        if isinstance(value, dict):
            return {k: show(v) for k, v in value.items()}
        return fmt(value)

    return [show(rec) for rec in records]


def test_default_seeds_are_the_documented_ones() -> None:
    from stecheck.claims.audit.run import AuditConfig
    from stecheck.claims.phase.run import PhaseConfig
    from stecheck.config import default_config

    assert default_config().validated().seed == SIMULATE_SEED
    assert AuditConfig().validated().seed == AUDIT_SEED and PhaseConfig().validated().seed == PHASE_SEED
    text = (ROOT / "experiments" / "regenerate.sh").read_text()
    assert "stecheck audit --quiet" in text and "stecheck phase --quiet" in text  # no --seed needed


def test_seed_random_draws_fresh_entropy_and_records_it() -> None:
    from stecheck.config import parse_seed

    a, b = parse_seed("random"), parse_seed("random")
    assert isinstance(a, int) and a != b and a >= 2**64  # 128-bit entropy; a repeat has probability 2^-128


def test_python_api_uses_the_command_line_defaults() -> None:
    import stecheck

    records = stecheck.simulate("uniform(0,1)", bits=2, h=1e-3, fd="forward", samples=1000)
    assert records[0]["seed"] == str(SIMULATE_SEED)
    fresh = stecheck.simulate("uniform(0,1)", bits=2, h=1e-3, fd="forward", samples=1000, seed="random")
    assert fresh[0]["seed"] != str(SIMULATE_SEED)


def test_phase_with_no_options_twice_writes_identical_records(runner, tmp_path: Path, monkeypatch) -> None:
    meta_a, a = run_default(runner, tmp_path / "a", monkeypatch, "phase", "phase")
    meta_b, b = run_default(runner, tmp_path / "b", monkeypatch, "phase", "phase")
    assert meta_a["seed"] == meta_b["seed"] == str(PHASE_SEED)
    assert a == b
    spot_a = json.loads((tmp_path / "a" / "results" / "phase" / "spot" / "records.json").read_text())["records"]
    spot_b = json.loads((tmp_path / "b" / "results" / "phase" / "spot" / "records.json").read_text())["records"]
    assert spot_a == spot_b and spot_a  # the Monte Carlo spot checks too
    committed = json.loads((ROOT / "results" / "phase" / "records.json").read_text())["records"]
    assert printed(a) == printed(committed)


@pytest.mark.slow
def test_audit_with_no_options_twice_writes_identical_records(runner, tmp_path: Path, monkeypatch) -> None:
    meta_a, a = run_default(runner, tmp_path / "a", monkeypatch, "audit", "audit")
    meta_b, b = run_default(runner, tmp_path / "b", monkeypatch, "audit", "audit")
    assert meta_a["seed"] == meta_b["seed"] == str(AUDIT_SEED)
    assert a == b
    committed = json.loads((ROOT / "results" / "audit" / "records.json").read_text())["records"]
    keys = ("step", "verdict", "input", "k", "value", "se", "exact", "target")
    assert printed([{k: r[k] for k in keys} for r in a]) == printed([{k: r[k] for k in keys} for r in committed])
