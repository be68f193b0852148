"""A TFLite FlatBuffer written with the schema's generated builders (the ``tflite`` package) and ``flatbuffers``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

#: numpy dtype name -> TensorType code of schema.fbs
TYPE_CODES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "int8": 9, "float64": 10, "bfloat16": 18}


@dataclass
class T:
    """A tensor: constant when ``data`` is given; ``scale`` adds quantization parameters."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    data: np.ndarray | None = None
    scale: Sequence[float] = ()
    zero_point: Sequence[int] = ()


@dataclass
class Op:
    code: str
    inputs: list[int]
    outputs: list[int]


@dataclass
class Graph:
    tensors: list[T]
    ops: list[Op] = field(default_factory=list)


def _int_vector(builder, values: Sequence[int], start) -> int:
    start(builder, len(values))
    for v in reversed(list(values)):
        builder.PrependInt32(int(v))
    return builder.EndVector()


def _offsets(builder, offsets: Sequence[int], start) -> int:
    start(builder, len(offsets))
    for off in reversed(list(offsets)):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def build(graphs: Sequence[Graph]) -> bytes:
    """The bytes of a ``.tflite`` model holding ``graphs`` (buffer 0 is the empty buffer, as converters write it)."""
    import flatbuffers
    import tflite

    builder = flatbuffers.Builder(1024)
    codes = sorted({op.code for g in graphs for op in g.ops})
    datas: list[bytes | None] = [None]
    for g in graphs:
        for t in g.tensors:
            if t.data is not None:
                datas.append(np.ascontiguousarray(t.data).tobytes())
    buffers = []
    for data in datas:
        vec = builder.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
        tflite.BufferStart(builder)
        if vec is not None:
            tflite.BufferAddData(builder, vec)
        buffers.append(tflite.BufferEnd(builder))
    code_offsets = []
    for code in codes:
        value = getattr(tflite.BuiltinOperator, code)
        tflite.OperatorCodeStart(builder)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, min(value, 127))
        tflite.OperatorCodeAddBuiltinCode(builder, value)
        tflite.OperatorCodeAddVersion(builder, 1)
        code_offsets.append(tflite.OperatorCodeEnd(builder))
    subgraphs, next_buffer = [], 1
    for g in graphs:
        tensors = []
        for t in g.tensors:
            name = builder.CreateString(t.name)
            shape = _int_vector(builder, t.shape, tflite.TensorStartShapeVector)
            quant = None
            if t.scale:
                scale = builder.CreateNumpyVector(np.asarray(t.scale, np.float32))
                zp = builder.CreateNumpyVector(np.asarray(t.zero_point or [0] * len(t.scale), np.int64))
                tflite.QuantizationParametersStart(builder)
                tflite.QuantizationParametersAddScale(builder, scale)
                tflite.QuantizationParametersAddZeroPoint(builder, zp)
                quant = tflite.QuantizationParametersEnd(builder)
            tflite.TensorStart(builder)
            tflite.TensorAddShape(builder, shape)
            tflite.TensorAddType(builder, TYPE_CODES[t.dtype])
            if t.data is not None:
                tflite.TensorAddBuffer(builder, next_buffer)
                next_buffer += 1
            else:
                tflite.TensorAddBuffer(builder, 0)
            tflite.TensorAddName(builder, name)
            if quant is not None:
                tflite.TensorAddQuantization(builder, quant)
            tensors.append(tflite.TensorEnd(builder))
        ops = []
        for op in g.ops:
            ins = _int_vector(builder, op.inputs, tflite.OperatorStartInputsVector)
            outs = _int_vector(builder, op.outputs, tflite.OperatorStartOutputsVector)
            tflite.OperatorStart(builder)
            tflite.OperatorAddOpcodeIndex(builder, codes.index(op.code))
            tflite.OperatorAddInputs(builder, ins)
            tflite.OperatorAddOutputs(builder, outs)
            ops.append(tflite.OperatorEnd(builder))
        tvec = _offsets(builder, tensors, tflite.SubGraphStartTensorsVector)
        ovec = _offsets(builder, ops, tflite.SubGraphStartOperatorsVector)
        inputs = _int_vector(builder, [i for i, t in enumerate(g.tensors) if t.data is None][:1], tflite.SubGraphStartInputsVector)
        tflite.SubGraphStart(builder)
        tflite.SubGraphAddTensors(builder, tvec)
        tflite.SubGraphAddOperators(builder, ovec)
        tflite.SubGraphAddInputs(builder, inputs)
        subgraphs.append(tflite.SubGraphEnd(builder))
    bvec = _offsets(builder, buffers, tflite.ModelStartBuffersVector)
    cvec = _offsets(builder, code_offsets, tflite.ModelStartOperatorCodesVector)
    svec = _offsets(builder, subgraphs, tflite.ModelStartSubgraphsVector)
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    tflite.ModelAddOperatorCodes(builder, cvec)
    tflite.ModelAddSubgraphs(builder, svec)
    tflite.ModelAddBuffers(builder, bvec)
    builder.Finish(tflite.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write(path: Path, graphs: Sequence[Graph]) -> Path:
    Path(path).write_bytes(build(graphs))
    return Path(path)
