"""Small weight files in every supported format, written by the tests, and the plain reference numbers."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Mapping

import ml_dtypes
import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("weights_baseline", ROOT / "bench" / "weights_baseline.py")
_baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_baseline)
#: The plain per-tensor numpy + scipy computation (bench/weights_baseline.py).
plain_statistics = _baseline.plain_statistics

_ST_DTYPES = {
    np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
    np.dtype(ml_dtypes.bfloat16): "BF16", np.dtype("int64"): "I64",
}


def weights_like(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 0.05) -> np.ndarray:
    """Heavy-tailed float32 'weights' (Student t, 4 degrees of freedom)."""
    return (scale * rng.standard_t(4, size=shape)).astype(np.float32)


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> Path:
    """A safetensors file written by hand (any dtype in _ST_DTYPES, bf16 included)."""
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": _ST_DTYPES[np.dtype(array.dtype)], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return Path(path)


def write_sharded(directory: Path, tensors: Mapping[str, np.ndarray], shards: int = 2) -> Path:
    """``model-0000i-of-0000N.safetensors`` files plus ``model.safetensors.index.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(directory / file, {n: tensors[n] for n in part})
        weight_map.update({n: file for n in part})
    index = directory / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def write_onnx(path: Path, initializers: Mapping[str, np.ndarray] = {}, constants: Mapping[str, np.ndarray] = {},
               external: bool = False) -> Path:
    """A one-node-per-tensor ONNX graph with weights as initializers (optionally external) and Constant nodes."""
    nodes, outputs = [], []
    inits = [numpy_helper.from_array(a, name) for name, a in initializers.items()]
    for name, a in constants.items():
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name)))
    for name, a in {**initializers, **constants}.items():
        nodes.append(helper.make_node("Identity", [name], [f"{name}_out"]))
        outputs.append(helper.make_tensor_value_info(f"{name}_out", helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
    graph = helper.make_graph(nodes, "weights", [], outputs, initializer=inits)
    model = helper.make_model(graph)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{Path(path).name}.data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return Path(path)


def as_float64(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(np.float64)
