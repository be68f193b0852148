"""The simulate command: outputs, the JSON contract, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stecheck.records import SIMULATE_FIELDS
from tests.conftest import invoke

SMALL = ["--dist", "normal(0.5,0.15)", "--bits", "1-2", "--h", "1e-3", "--samples", "20000", "--seed", "7", "--quiet"]


def test_json_output_follows_the_contract(runner) -> None:
    result = invoke(runner, "simulate", *SMALL, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"meta", "records"}
    assert data["meta"]["seed"] == "7"
    assert len(data["records"]) == 2 * 2  # two k, two schemes
    for rec in data["records"]:
        assert set(SIMULATE_FIELDS) <= set(rec)


def test_csv_and_markdown_outputs(runner) -> None:
    csv_out = invoke(runner, "simulate", *SMALL, "--format", "csv").stdout.splitlines()
    assert csv_out[0].split(",") == list(SIMULATE_FIELDS)
    assert len(csv_out) == 1 + 4
    md = invoke(runner, "simulate", *SMALL, "--format", "md").stdout
    assert md.count("\n| normal(0.5,0.15) |") == 4


def test_out_dir_gets_all_files_with_provenance(runner, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(runner, "simulate", *SMALL, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "records.csv", "records.json", "records.md"]
    meta = json.loads((out / "meta.json").read_text())
    for key in ("stecheck_version", "python", "numpy", "scipy", "platform", "config", "seed", "wall_time_s"):
        assert key in meta
    assert meta["config"]["inputs"] == ["normal(0.5,0.15)"]


def test_table_shows_headline_numbers(runner) -> None:
    result = invoke(runner, "simulate", *SMALL, "--fd", "forward")
    assert result.exit_code == 0
    assert "normal(0.5,0.15)" in result.stdout
    assert "(2.66)" in result.stdout  # exact E[D_h] at k = 1, h = 1e-3


BAD = [
    (["--bits", "0"], "out of range"),
    (["--bits", "99"], "out of range"),
    (["--h", "0"], "step size"),
    (["--h", "-1e-3"], "step size"),
    (["--samples", "0"], "sample count"),
    (["--samples", "-5"], "sample count"),
    (["--dist", "gauss(0,1)"], "unknown family"),
    (["--dist", "normal(0,1"], "position"),
    (["--dist", "normal(0,-1)"], "sigma"),
    (["--fd", "backward"], "scheme"),
    (["--rounding", "up"], "rounding"),
    (["--method", "magic"], "method"),
    (["--seed", "abc"], "seed"),
    (["--threads", "0"], "thread"),
    (["--format", "xml"], "format"),
    (["--no-such-option"], "no such option"),
    (["--config", "/nonexistent/x.toml"], "cannot read config"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_gives_one_line_error_and_exit_2(runner, tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "out"
    base = ["--dist", "normal(0.5,0.15)", "--samples", "1000", "--quiet", "--out", str(out)]
    result = invoke(runner, "simulate", *base, *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert needle.lower() in lines[0].lower()
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())
    assert result.stdout == ""


def test_unwritable_out_dir(runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = invoke(runner, "simulate", *SMALL, "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot write to output directory")
    assert blocker.read_text() == "not a directory"


def test_bad_config_file(runner, tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text("inputs = ['normal(0,1)']\nbitz = 3\n")
    result = invoke(runner, "simulate", "--config", str(cfg), "--quiet")
    assert result.exit_code == 2
    assert "unknown key(s) bitz" in result.stderr
    cfg.write_text("inputs = [")
    assert invoke(runner, "simulate", "--config", str(cfg)).exit_code == 2


def test_real_subprocess_error_is_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "stecheck", "simulate", "--bits", "99"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
    assert proc.stdout == ""


def test_shipped_default_experiment_matches_experiments_dir() -> None:
    root = Path(__file__).resolve().parents[1]
    shipped = root / "stecheck" / "data" / "default.toml"
    assert shipped.read_text() == (root / "experiments" / "default.toml").read_text()


def test_result_files_get_the_ordinary_file_mode(runner, tmp_path: Path) -> None:
    import os
    import stat

    from stecheck.records import FILE_MODE

    out = tmp_path / "run"
    assert invoke(runner, "simulate", *SMALL, "--out", str(out)).exit_code == 0
    for path in out.iterdir():
        if path.is_file():
            assert stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE, path
