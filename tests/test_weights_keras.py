"""Keras files written with h5py in Keras' own layouts (Keras 2 ``model.save`` HDF5, Keras 3 ``.keras`` zip):
datasets read, roles from names (Keras 2) or layer classes (Keras 3), numbers equal to a plain numpy computation."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEED
from tests.test_weights_formats import assert_matches_plain, scan_json
from tests.weights_fixtures import weights_like

h5py = pytest.importorskip("h5py")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def keras2_layers(rng: np.random.Generator) -> dict[str, dict[str, tuple[np.ndarray, str]]]:
    """layer -> weight name -> (array, role), a small CNN as Keras 2 names it."""
    return {
        "conv2d_1": {"kernel:0": (weights_like(rng, (3, 3, 1, 8)), "weight"), "bias:0": (weights_like(rng, (8,)), "bias")},
        "batch_normalization_1": {
            "gamma:0": ((1 + weights_like(rng, (8,))), "norm"), "beta:0": (weights_like(rng, (8,)), "norm"),
            "moving_mean:0": (weights_like(rng, (8,)), "buffer"), "moving_variance:0": (np.abs(weights_like(rng, (8,))), "buffer"),
        },
        "dense_1": {"kernel:0": (weights_like(rng, (72, 7)), "weight"), "bias:0": (weights_like(rng, (7,)), "bias")},
    }


def write_keras2_h5(path: Path, layers: dict) -> None:
    """``model.save('m.h5')`` layout: model_config attribute, model_weights/LAYER/LAYER/NAME datasets."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = [name.encode() for name in layers]
        for layer, tensors in layers.items():
            group = weights.create_group(layer)
            group.attrs["weight_names"] = [f"{layer}/{w}".encode() for w in tensors]
            inner = group.create_group(layer)
            for w, (array, _role) in tensors.items():
                inner.create_dataset(w, data=array)
        opt = f.create_group("optimizer_weights")
        opt.create_dataset("Adam/iterations:0", data=np.int64(100))
        opt.create_dataset("Adam/conv2d_1/kernel/m:0", data=np.zeros((3, 3, 1, 8), np.float32))


def test_keras2_h5_layout(runner, tmp_path: Path, rng) -> None:
    layers = keras2_layers(rng)
    path = tmp_path / "cnn.h5"
    write_keras2_h5(path, layers)
    data = scan_json(runner, str(path), "--all")
    rows = {r["tensor"]: r for r in data["records"] if r["kind"] == "tensor"}
    want = {f"model_weights/{layer}/{layer}/{w}": v for layer, ts in layers.items() for w, v in ts.items()}
    assert set(rows) == set(want) | {"optimizer_weights/Adam/conv2d_1/kernel/m:0"}
    for name, (array, role) in want.items():
        assert rows[name]["role"] == role
        assert_matches_plain(data["records"], name, array)
    assert rows["optimizer_weights/Adam/conv2d_1/kernel/m:0"]["role"] == "other"
    default = scan_json(runner, str(path))
    assert {r["tensor"] for r in default["records"] if r["kind"] == "tensor"} == {n for n, (_a, r) in want.items() if r == "weight"}


def test_keras3_archive_roles_from_layer_classes(runner, tmp_path: Path, rng) -> None:
    """Keras 3 stores ``layers/NAME/vars/I``; config.json's layer classes name the variables."""
    arrays = {
        "layers/conv2d/vars/0": (weights_like(rng, (3, 3, 1, 4)), "weight"),
        "layers/conv2d/vars/1": (weights_like(rng, (4,)), "bias"),
        "layers/batch_normalization/vars/0": (1 + weights_like(rng, (4,)), "norm"),
        "layers/batch_normalization/vars/1": (weights_like(rng, (4,)), "norm"),
        "layers/batch_normalization/vars/2": (weights_like(rng, (4,)), "buffer"),
        "layers/batch_normalization/vars/3": (np.abs(weights_like(rng, (4,))), "buffer"),
        "layers/lstm/cell/vars/0": (weights_like(rng, (4, 32)), "weight"),
        "layers/lstm/cell/vars/1": (weights_like(rng, (8, 32)), "weight"),
        "layers/lstm/cell/vars/2": (weights_like(rng, (32,)), "bias"),
        "layers/dense/vars/0": (weights_like(rng, (8, 5)), "weight"),
        "layers/dense/vars/1": (weights_like(rng, (5,)), "bias"),
    }
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": cls, "config": {"name": name}}
        for cls, name in (("InputLayer", "input_layer"), ("Conv2D", "conv2d"), ("BatchNormalization", "batch_normalization"),
                          ("LSTM", "lstm"), ("Dense", "dense"))
    ]}}
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        for name, (array, _role) in arrays.items():
            f.create_dataset(name, data=array)
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights.getvalue())
    data = scan_json(runner, str(path), "--all")
    rows = {r["tensor"]: r for r in data["records"] if r["kind"] == "tensor"}
    assert set(rows) == set(arrays)
    for name, (array, role) in arrays.items():
        assert rows[name]["role"] == role, name
        assert_matches_plain(data["records"], name, array)


def test_keras_external_storage_is_refused(tmp_path: Path) -> None:
    """A dataset whose bytes live in another file would let a model read any file: refused."""
    from stecheck.errors import StecheckError
    from stecheck.weights.formats.keras import keras_tensors

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(16, dtype=np.float32).tobytes())
    path = tmp_path / "ext.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w/kernel:0", shape=(4, 4), dtype="<f4", external=[(str(secret), 0, 64)])
        f["link"] = h5py.ExternalLink(str(secret), "/x")
    with pytest.raises(StecheckError, match="external or virtual storage"):
        keras_tensors(path)


def test_keras_dataset_with_an_absurd_shape_is_refused(tmp_path: Path) -> None:
    """A chunked dataset of 2^40 float32 that was never written takes a few bytes on disk: refused before reading."""
    from tests.test_fuzz_weights import outcome

    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("model_weights/dense/dense/kernel:0", shape=(1 << 20, 1 << 20), dtype="<f4", chunks=(64, 64))
    assert path.stat().st_size < 1 << 20
    result = outcome(path)
    assert result.startswith("refused: ") and "over the" in result, result


def test_keras_compressed_dataset_read_lazily_across_rows(runner, tmp_path: Path, rng) -> None:
    """A gzip-compressed kernel larger than one scan chunk: the row-wise lazy reads give the plain numbers."""
    kernel = weights_like(rng, (301, 37, 29))  # 322,973 elements: chunks of 2^18 end inside a row
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("model_weights/conv/conv/kernel:0", data=kernel, compression="gzip", chunks=(16, 37, 29))
    from stecheck.weights.formats.keras import keras_tensors

    (tensor,) = keras_tensors(path)
    np.testing.assert_array_equal(np.concatenate(list(tensor.raw_chunks())), kernel.reshape(-1))
    np.testing.assert_array_equal(tensor.read(1000, 5000), kernel.reshape(-1)[1000:6000])
    assert_matches_plain(scan_json(runner, str(path))["records"], "model_weights/conv/conv/kernel:0", kernel)
