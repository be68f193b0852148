"""`stecheck weights` on small files in every format: its numbers equal a plain numpy + scipy computation."""

from __future__ import annotations

import json
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

from tests.conftest import SEED, invoke
from tests.weights_fixtures import (
    as_float64, plain_statistics, weights_like, write_onnx, write_safetensors, write_sharded,
)

BITS = tuple(range(1, 9))
STEPS = (1e-3, 0.05)
ARGS = ["--bits", "1-8", "--h", "1e-3", "--h", "0.05", "--format", "json", "--quiet"]
SCALARS = ("mean_n", "var_n", "ks_stat", "ks_pvalue", "sqnr_db", "sqnr_uniform_db")
TOL = 1e-9


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def scan_json(runner, *args: str) -> dict:
    result = invoke(runner, "weights", *args, *ARGS)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_matches_plain(records: list[dict], name: str, array: np.ndarray, transform: str = "dorefa") -> None:
    """Every record of tensor ``name`` equals the plain computation on ``array`` (to 1e-9)."""
    ref = plain_statistics(as_float64(array), BITS, STEPS, transform)
    rows = [r for r in records if r["tensor"] == name]
    assert len(rows) == len(BITS) * len(STEPS)
    for rec in rows:
        want = ref[rec["k"]]
        assert rec["shape"] == list(array.shape) and rec["size"] == array.size and rec["ste"] == 1.0
        for key in SCALARS:
            assert rec[key] == pytest.approx(want[key], rel=TOL, abs=TOL), (name, rec["k"], key)
        assert np.allclose(rec["fourier_abs"], want["fourier_abs"], rtol=0, atol=TOL)
        assert rec["mean_fd"] == pytest.approx(want["mean_fd"][STEPS.index(rec["h"])], rel=TOL, abs=TOL)
        assert rec["var12_n"] == pytest.approx(12 * rec["var_n"])
        assert rec["nonfinite"] == want["nonfinite"]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64])
def test_safetensors_every_float_dtype(runner, tmp_path: Path, rng, dtype) -> None:
    tensors = {"layer.weight": weights_like(rng, (48, 40)).astype(dtype), "conv.weight": weights_like(rng, (8, 4, 3, 3), 0.3).astype(dtype)}
    path = write_safetensors(tmp_path / "m.safetensors", tensors, {"format": "np"})
    data = scan_json(runner, str(path))
    assert {r["dtype"] for r in data["records"] if r["kind"] == "tensor"} == {np.dtype(dtype).name}
    for name, array in tensors.items():
        assert_matches_plain(data["records"], name, array)


def test_written_by_the_safetensors_library_and_other_transforms(runner, tmp_path: Path, rng) -> None:
    tensors = {"a": weights_like(rng, (30, 50)), "b": weights_like(rng, (1200, 2), 1.0)}
    path = tmp_path / "lib.safetensors"
    safetensors.numpy.save_file(tensors, str(path))
    for transform in ("absmax", "minmax"):
        data = scan_json(runner, str(path), "--transform", transform)
        for name, array in tensors.items():
            assert_matches_plain(data["records"], name, array, transform)


def test_onnx_initializers_external_data_and_constant_nodes(runner, tmp_path: Path, rng) -> None:
    init = {"fc.weight": weights_like(rng, (20, 30))}
    const = {"conv.w_0": weights_like(rng, (6, 3, 3, 3), 0.2), "bn.b_0": weights_like(rng, (6,))}
    inline = write_onnx(tmp_path / "inline.onnx", init, const)
    data = scan_json(runner, str(inline), "--all")
    for name, array in {**init, **const}.items():
        assert_matches_plain(data["records"], name, array)
    (tmp_path / "ext").mkdir()
    external = write_onnx(tmp_path / "ext" / "external.onnx", init, external=True)
    assert (tmp_path / "ext" / "external.onnx.data").stat().st_size == init["fc.weight"].nbytes
    data = scan_json(runner, str(external))
    assert_matches_plain(data["records"], "fc.weight", init["fc.weight"])


def test_npz_and_npy(runner, tmp_path: Path, rng) -> None:
    arrays = {"w1": weights_like(rng, (25, 40)), "w2": weights_like(rng, (10, 10)).astype(np.float64), "ids": np.arange(12).reshape(3, 4)}
    np.savez(tmp_path / "m.npz", **arrays)
    data = scan_json(runner, str(tmp_path / "m.npz"))
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == {"w1", "w2"}  # integers are skipped
    assert data["meta"]["tensors_skipped"] == 1
    for name in ("w1", "w2"):
        assert_matches_plain(data["records"], name, arrays[name])
    np.save(tmp_path / "single.npy", arrays["w1"])
    assert_matches_plain(scan_json(runner, str(tmp_path / "single.npy"))["records"], "single", arrays["w1"])


def test_sharded_checkpoint_and_directory(runner, tmp_path: Path, rng) -> None:
    tensors = {f"layers.{i}.weight": weights_like(rng, (16, 24)).astype(ml_dtypes.bfloat16) for i in range(3)}
    index = write_sharded(tmp_path / "sharded", tensors)
    for source in (index, index.parent):
        data = scan_json(runner, str(source))
        assert data["meta"]["source_info"]["format"] == "sharded safetensors"
        for name, array in tensors.items():
            assert_matches_plain(data["records"], name, array)
    plain = tmp_path / "plain"
    plain.mkdir()
    np.save(plain / "a.npy", tensors["layers.0.weight"].astype(np.float32))
    write_onnx(plain / "b.onnx", {"w": weights_like(rng, (5, 7))})
    data = scan_json(runner, str(plain))
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == {"a.npy:a", "b.onnx:w"}


def test_torch_state_dict(runner, tmp_path: Path, rng) -> None:
    torch = pytest.importorskip("torch")
    w = weights_like(rng, (12, 20))
    state = {"model": {"fc.weight": torch.from_numpy(w), "fc.bf16": torch.from_numpy(w).to(torch.bfloat16), "step": 3}}
    torch.save(state, tmp_path / "ckpt.pt")
    data = scan_json(runner, str(tmp_path / "ckpt.pt"))
    assert_matches_plain(data["records"], "model.fc.weight", w)
    assert_matches_plain(data["records"], "model.fc.bf16", w.astype(ml_dtypes.bfloat16))


def test_json_csv_md_and_out_dir(runner, tmp_path: Path, rng) -> None:
    from stecheck.weights import WEIGHTS_FIELDS

    path = write_safetensors(tmp_path / "m.safetensors", {"w": weights_like(rng, (10, 10)), "v": weights_like(rng, (5, 5))})
    data = scan_json(runner, str(path))
    assert set(data) == {"meta", "records"} and "exact population values" in data["meta"]["exact"]
    for rec in data["records"]:
        assert list(rec) == list(WEIGHTS_FIELDS)
    csv = invoke(runner, "weights", str(path), "-k", "2", "--format", "csv", "-q").stdout.splitlines()
    assert csv[0].split(",") == list(WEIGHTS_FIELDS) and len(csv) == 1 + 2 + 1
    md = invoke(runner, "weights", str(path), "-k", "2", "--format", "md", "-q").stdout
    assert md.count("\n| w |") == 1
    out = tmp_path / "out"
    result = invoke(runner, "weights", str(path), "-k", "1-2", "--out", str(out), "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "records.csv", "records.json", "records.md"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"] == "weights" and meta["config"]["bits"] == [1, 2]
    assert "claim holds" in invoke(runner, "weights", str(path), "-k", "1-2", "-q").stdout
