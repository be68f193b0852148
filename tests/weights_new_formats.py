"""Bytes of small valid GGUF, Keras (.h5, .keras) and TFLite files, each written by its format's own writer."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"w1": rng.normal(0, 0.1, (4, 64)).astype(np.float32), "b1": rng.normal(0, 0.1, (4,)).astype(np.float32)}


def gguf_bytes() -> bytes:
    """token_embd.weight F32, blk.0.ffn_down.weight Q8_0, blk.0.attn_norm.weight F32, via GGUFWriter."""
    import gguf

    w = _weights()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_tensor("token_embd.weight", w["w1"])
        q8 = gguf.quants.quantize(w["w1"], gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor("blk.0.ffn_down.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        writer.add_tensor("blk.0.attn_norm.weight", w["b1"])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


def h5_bytes() -> bytes:
    """A Keras 2 ``model.save`` HDF5 layout with one Dense layer."""
    import h5py

    w = _weights()
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        group = f.create_group("model_weights").create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_dataset("dense/kernel:0", data=w["w1"])
        group.create_dataset("dense/bias:0", data=w["b1"])
    return buf.getvalue()


def keras_bytes() -> bytes:
    """A Keras 3 ``.keras`` zip: config.json and model.weights.h5 (layers/dense/vars/0..1)."""
    import h5py

    w = _weights()
    weights = io.BytesIO()
    with h5py.File(weights, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=w["w1"])
        f.create_dataset("layers/dense/vars/1", data=w["b1"])
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "dense"}}]}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights.getvalue())
    return out.getvalue()


def tflite_bytes() -> bytes:
    """FULLY_CONNECTED with a float32 weight and bias."""
    from tests.tflite_writer import Graph, Op, T, build

    w = _weights()
    graph = Graph([T("x", (1, 64)), T("fc/weight", (4, 64), data=w["w1"]), T("fc/bias", (4,), data=w["b1"]), T("y", (1, 4))],
                  [Op("FULLY_CONNECTED", [0, 1, 2], [3])])
    return build([graph])


BUILDERS = {".gguf": gguf_bytes, ".h5": h5_bytes, ".keras": keras_bytes, ".tflite": tflite_bytes}
