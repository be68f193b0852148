"""ONNX models: weights as graph initializers, as external data, or as Constant nodes.

Exporters differ: PyTorch stores weights as initializers (large models in external data files), while
Paddle2ONNX stores every weight as a ``Constant`` node. All three are read, in subgraphs too (If/Loop
bodies). External data is read by offset from its file, chunk by chunk.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.helper import tensor_dtype_to_np_dtype

from stecheck.errors import StecheckError
from stecheck.safe_io import open_regular, require_regular
from stecheck.weights.formats.onnx_roles import graphs, onnx_roles
from stecheck.weights.tensors import TensorRef, array_reader

__all__ = ["onnx_tensors"]


def _load(path: Path) -> onnx.ModelProto:
    require_regular(path, "ONNX model")
    try:
        if path.stat().st_size == 0:
            raise StecheckError(f"{str(path)!r} is not a valid ONNX model: the file is empty")
        return onnx.load(str(path), load_external_data=False)
    except StecheckError:
        raise
    except OSError as exc:
        raise StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except Exception as exc:  # protobuf raises DecodeError and others for a corrupt file
        raise StecheckError(f"{str(path)!r} is not a valid ONNX model: {type(exc).__name__}: {exc}") from None


def _external_reader(path: Path, tensor: onnx.TensorProto, name: str | None = None) -> TensorRef:
    """A tensor stored in an external data file, resolved against the model's directory (never the cwd)."""
    name = tensor.name if name is None else name
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    if "\x00" in location:
        raise StecheckError(f"{str(path)!r}: external data location {location[:80]!r} of {name!r} contains a NUL character")
    base = path.parent.resolve()
    target = (base / location).resolve()
    if base not in target.parents:
        raise StecheckError(f"{str(path)!r}: external data of {name!r} points outside the model's directory")
    try:
        dtype = np.dtype(tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    except (KeyError, TypeError, ValueError):
        raise StecheckError(f"{str(path)!r}: tensor {name!r} has an unknown data type {tensor.data_type}") from None
    shape = tuple(int(d) for d in tensor.dims)
    count = math.prod(shape)  # exact: an absurd shape cannot wrap around to match the data length
    offset = _natural(path, tensor, info, "offset", 0)
    length = _natural(path, tensor, info, "length", count * dtype.itemsize)
    if min(shape, default=0) < 0 or dtype.hasobject:
        raise StecheckError(f"{str(path)!r}: external tensor {name!r} has shape {list(shape)} and type {dtype}")
    if not target.exists():
        raise StecheckError(f"{str(path)!r}: external data file {location!r} of {name!r} is missing")
    available = require_regular(target, f"tensor {name!r}: external data file").st_size
    if length != count * dtype.itemsize or offset + length > available:
        raise StecheckError(f"{str(path)!r}: external data of {name!r} is truncated or does not match its shape")

    def read(first: int, n: int) -> np.ndarray:
        fd = open_regular(target, f"tensor {name!r}: external data file")
        try:
            data = os.pread(fd, n * dtype.itemsize, offset + first * dtype.itemsize)
        except OSError as exc:
            raise StecheckError(f"cannot read external data of {name!r} from {str(target)!r}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if len(data) != n * dtype.itemsize:
            raise StecheckError(f"{str(path)!r}: external data of {name!r} was truncated while reading")
        return np.frombuffer(data, dtype=dtype)

    return TensorRef(name, shape, dtype, read)


def _natural(path: Path, tensor: onnx.TensorProto, info: dict[str, str], key: str, default: int) -> int:
    """A non-negative decimal integer field of ``external_data``."""
    text = info.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # 20 digits hold any 64-bit offset
        raise StecheckError(f"{str(path)!r}: external data {key} {text[:40]!r} of {tensor.name!r} is not a non-negative integer")
    return int(text)


def _inline(path: Path, tensor: onnx.TensorProto, name: str) -> TensorRef:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:  # numpy_helper would read it relative to the cwd
        return _external_reader(path, tensor, name)
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as exc:  # malformed raw data, unknown data type
        raise StecheckError(f"{str(path)!r}: tensor {name!r} cannot be decoded: {exc}") from None
    return TensorRef(name, tuple(array.shape), array.dtype, array_reader(array))


def onnx_tensors(path: Path) -> list[TensorRef]:
    """Initializers (inline or external) and Constant-node tensors of an ONNX model, graph order."""
    path = Path(path)
    model = _load(path)
    out: list[TensorRef] = []
    for graph in graphs(model.graph):
        for init in graph.initializer:
            out.append(_inline(path, init, init.name))
        for node in graph.node:
            if node.op_type != "Constant" or not node.output:
                continue
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    out.append(_inline(path, attr.t, node.output[0]))
                elif attr.name == "value_floats":
                    array = np.asarray(attr.floats, dtype=np.float32)
                    out.append(TensorRef(node.output[0], array.shape, array.dtype, array_reader(array)))
    roles = onnx_roles(model, {t.name: t.floating for t in out}, {t.name: t.shape for t in out})
    for tensor in out:
        tensor.role = roles[tensor.name]
    return out
