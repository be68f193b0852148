"""TensorFlow Lite ``.tflite`` models: constant tensors of every subgraph, read through the ``tflite`` package.

A ``.tflite`` file is a FlatBuffer (schema ``tensorflow/lite/schema/schema.fbs``, identifier ``TFL3``): tensors
name a buffer, buffers hold their bytes inline, or, in models over 2 GB, at an ``offset``/``size`` from the start of
the file. ``tflite`` is the generated reader of that schema (an optional extra: ``pip install 'stecheck[tflite]'``);
reading it runs no code from the file. Every buffer is checked against its tensor's shape and the file size.

Roles come from the graph, by operator input slot: CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filter and
TRANSPOSE_CONV weights are ``weight``, their bias slots ``bias``, an EMBEDDING_LOOKUP table and a constant
BATCH_MATMUL operand ``weight``; a vector constant ADDed to the output of one of these ops ``bias``; a float16
constant feeding DEQUANTIZE takes the role of the dequantized tensor.
Integer tensors with a quantization scale are ``quantized``; other constants are ``buffer`` (integers) or ``other``.
"""

from __future__ import annotations

import math
import mmap
from pathlib import Path
from typing import Any, Final

import ml_dtypes
import numpy as np

from stecheck.errors import StecheckError
from stecheck.weights.tensors import TensorRef, array_reader

__all__ = ["TFLITE_DTYPES", "tflite_tensors"]

#: TensorType code -> numpy dtype (little-endian, as the format stores them).
TFLITE_DTYPES: Final = {
    0: np.dtype("<f4"), 1: np.dtype("<f2"), 2: np.dtype("<i4"), 3: np.dtype("u1"), 4: np.dtype("<i8"),
    6: np.dtype("?"), 7: np.dtype("<i2"), 9: np.dtype("i1"), 10: np.dtype("<f8"), 12: np.dtype("<u8"),
    15: np.dtype("<u4"), 16: np.dtype("<u2"), 18: np.dtype(ml_dtypes.bfloat16),
}
#: A shape with more elements than this is refused as absurd (no real model has a 2^40-element tensor).
MAX_ELEMENTS: Final = 1 << 40
#: builtin op name -> {input slot: role}
SLOT_ROLES: Final = {
    "CONV_2D": {1: "weight", 2: "bias"},
    "CONV_3D": {1: "weight", 2: "bias"},
    "DEPTHWISE_CONV_2D": {1: "weight", 2: "bias"},
    "FULLY_CONNECTED": {1: "weight", 2: "bias"},
    "TRANSPOSE_CONV": {1: "weight", 3: "bias"},
    "EMBEDDING_LOOKUP": {1: "weight"},
    "BATCH_MATMUL": {0: "weight", 1: "weight"},
    # schema.fbs LSTM inputs: 1-8 input/recurrent weights, 9-11 peepholes, 12-15 gate biases, 16/17 projection,
    # 18/19 the states, 20-23 layer-norm coefficients
    "UNIDIRECTIONAL_SEQUENCE_LSTM": {**{i: "weight" for i in (*range(1, 12), 16)}, **{i: "bias" for i in (*range(12, 16), 17)},
                                     18: "buffer", 19: "buffer", **{i: "norm" for i in range(20, 24)}},
}
_PRIORITY: Final = ("quantized", "weight", "norm", "bias", "buffer", "other")
_LINEAR: Final = frozenset({"CONV_2D", "CONV_3D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL"})


def _import(path: Path) -> Any:
    try:
        import tflite
    except ImportError:
        raise StecheckError(f"reading the TFLite model {str(path)!r} needs the tflite package: pip install 'stecheck[tflite]'") from None
    return tflite


def _bad(path: Path, why: str) -> StecheckError:
    return StecheckError(f"{str(path)!r} is not a valid TFLite model: {why}")


def _op_names(tflite: Any) -> dict[int, str]:
    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def tflite_tensors(path: Path) -> list[TensorRef]:
    """The constant tensors (those with data) of every subgraph of a ``.tflite`` file, with graph roles."""
    path = Path(path)
    tflite = _import(path)
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            if size < 8:
                raise _bad(path, "the file is empty" if size == 0 else f"{size} bytes is shorter than a FlatBuffer header")
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if bytes(data[4:8]) != b"TFL3":
        raise _bad(path, "no TFL3 file identifier")
    try:
        return _read(path, tflite, data, size)
    except StecheckError:
        raise
    except Exception as exc:  # a corrupt FlatBuffer: struct.error, IndexError, ValueError, ...
        raise _bad(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def _buffer_bytes(path: Path, model: Any, index: int, data: Any, size: int) -> memoryview | None:
    if not 0 <= index < model.BuffersLength():
        raise _bad(path, f"a tensor names buffer {index} of {model.BuffersLength()}")
    buffer = model.Buffers(index)
    offset, length = int(buffer.Offset()), int(buffer.Size())
    if offset > 1:  # models over 2 GB: data after the FlatBuffer, by offset from the file start
        if offset + length > size:
            raise _bad(path, f"buffer {index} (bytes {offset}..{offset + length}) runs past the end of the file ({size} bytes)")
        return memoryview(data)[offset:offset + length]
    if buffer.DataIsNone() or buffer.DataLength() == 0:
        return None
    array = buffer.DataAsNumpy()
    return memoryview(array)


def _read(path: Path, tflite: Any, data: Any, size: int) -> list[TensorRef]:
    model = tflite.Model.GetRootAs(data, 0)
    names = _op_names(tflite)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        codes.append(names.get(max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode())), "CUSTOM"))
    out: list[TensorRef] = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        found: dict[int, TensorRef] = {}
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            raw = _buffer_bytes(path, model, int(tensor.Buffer()), data, size)
            if raw is None:
                continue
            name = (tensor.Name() or b"").decode("utf-8", "replace") or f"tensor_{t}"
            if model.SubgraphsLength() > 1:
                name = f"subgraph{g}/{name}"
            dtype = TFLITE_DTYPES.get(int(tensor.Type()))
            if dtype is None:
                raise _bad(path, f"tensor {name!r} has an unsupported type code {tensor.Type()}")
            shape = tuple(int(d) for d in (tensor.ShapeAsNumpy() if tensor.ShapeLength() else ()))
            count = math.prod(shape)
            if min(shape, default=0) < 0 or count > MAX_ELEMENTS:
                raise _bad(path, f"tensor {name!r} has an absurd shape {list(shape)}")
            if count * dtype.itemsize != raw.nbytes:
                raise _bad(path, f"tensor {name!r} of shape {list(shape)} and type {dtype.name} has {raw.nbytes} bytes of data")
            array = np.frombuffer(raw, dtype=dtype).reshape(shape)
            quant = tensor.Quantization()
            scaled = quant is not None and quant.ScaleLength() > 0
            ref = TensorRef(name, shape, dtype, array_reader(array))
            ref.role = "quantized" if scaled and dtype.kind in "iu" else None
            if ref.role == "quantized":
                ref.stored = dtype.name
            found[t] = ref
        _graph_roles(graph, codes, found)
        out.extend(found.values())
    return out


def _graph_roles(graph: Any, codes: list[str], found: dict[int, TensorRef]) -> None:
    """Roles by operator input slot; a DEQUANTIZE of a float16 constant passes its consumer's role back."""
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        index = int(op.OpcodeIndex())
        kind = codes[index] if 0 <= index < len(codes) else "CUSTOM"
        inputs = [int(x) for x in (op.InputsAsNumpy() if op.InputsLength() else ())]
        outputs = [int(x) for x in (op.OutputsAsNumpy() if op.OutputsLength() else ())]
        ops.append((kind, inputs, outputs))
    alias = {outputs[0]: inputs[0] for kind, inputs, outputs in ops if kind == "DEQUANTIZE" and inputs and outputs and inputs[0] in found}
    linear = {out for kind, _inputs, outputs in ops if kind in _LINEAR for out in outputs}
    roles: dict[int, set[str]] = {t: set() for t in found}
    for kind, inputs, _outputs in ops:
        for slot, t in enumerate(inputs):
            t = alias.get(t, t)
            if t not in roles:
                continue
            if kind in SLOT_ROLES and slot in SLOT_ROLES[kind]:
                roles[t].add(SLOT_ROLES[kind][slot])
            elif kind == "ADD" and sum(1 for d in found[t].shape if d > 1) <= 1 and any(x in linear for x in inputs if x != inputs[slot]):
                roles[t].add("bias")  # a vector added to the output of a bias-free linear op
    for t, ref in found.items():
        if ref.role is not None:
            continue
        chosen = roles[t] or {"other" if ref.floating else "buffer"}
        ref.role = next(r for r in _PRIORITY if r in chosen)
