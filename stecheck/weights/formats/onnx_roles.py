"""Roles of an ONNX model's constant tensors, decided from the graph: the input slot of the op consuming them.

A constant (initializer or Constant-node output) is followed through shape-only ops (Identity, Reshape, Cast,
Transpose, Squeeze, Unsqueeze, Flatten, Expand) to the ops that use it; each use gives a role
(:data:`SLOT_ROLES`), and a tensor with several uses takes the first of :data:`PRIORITY`:

- Conv/ConvTranspose W, Gemm A/B, a constant MatMul operand, LSTM/GRU/RNN W and R, a floating Gather table: ``weight``;
- their bias slots (Conv/ConvTranspose B, Gemm C, LSTM/GRU/RNN B), and a broadcast vector (at most one dimension
  above 1, e.g. ``[1, C, 1, 1]`` or ``[C]``) added to the output of Conv, ConvTranspose, Gemm or MatMul: ``bias``;
- BatchNormalization scale/B, Layer/Instance/Group/RMS normalization scale and bias: ``norm``; batch-norm running
  mean/variance, LSTM initial states and sequence lengths, Gather indices: ``buffer``;
- every input of QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, ``*Integer`` and ``QLinear*`` ops, and a
  constant multiplied (Mul) with the output of one of them (the weight scale of dynamic quantization): ``quantized``;
- any other constant: ``buffer`` when it is an integer or boolean (shapes, axes, indices), else ``other``;
- a constant no op uses is left to the name rules (:mod:`stecheck.weights.roles`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final, Iterable, Iterator

import onnx

__all__ = ["SLOT_ROLES", "PRIORITY", "graphs", "onnx_roles"]

PRIORITY: Final = ("quantized", "weight", "norm", "bias", "buffer", "other")
_PASS: Final = frozenset({"Identity", "Reshape", "Cast", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Expand"})
#: op type -> {input slot: role}
SLOT_ROLES: Final[dict[str, dict[int, str]]] = {
    "Conv": {1: "weight", 2: "bias"},
    "ConvTranspose": {1: "weight", 2: "bias"},
    "Gemm": {0: "weight", 1: "weight", 2: "bias"},
    "MatMul": {0: "weight", 1: "weight"},
    "LSTM": {1: "weight", 2: "weight", 3: "bias", 4: "buffer", 5: "buffer", 6: "buffer", 7: "weight"},
    "GRU": {1: "weight", 2: "weight", 3: "bias", 4: "buffer", 5: "buffer"},
    "RNN": {1: "weight", 2: "weight", 3: "bias", 4: "buffer", 5: "buffer"},
    "Gather": {0: "weight", 1: "buffer"},
    "BatchNormalization": {1: "norm", 2: "norm", 3: "buffer", 4: "buffer"},
    "LayerNormalization": {1: "norm", 2: "norm"},
    "InstanceNormalization": {1: "norm", 2: "norm"},
    "GroupNormalization": {1: "norm", 2: "norm"},
    "RMSNormalization": {1: "norm"},
    "SimplifiedLayerNormalization": {1: "norm"},
    "SkipLayerNormalization": {2: "norm", 3: "norm", 4: "bias"},
}
_LINEAR: Final = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_QUANT: Final = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})


def graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph of its nodes (If/Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from graphs(sub)


def _quantized_op(op: str) -> bool:
    return op in _QUANT or op.endswith("Integer") or op.startswith("QLinear")


def _broadcast_vector(dims: Iterable[int]) -> bool:
    return sum(1 for d in dims if d > 1) <= 1


def onnx_roles(model: onnx.ModelProto, floating: dict[str, bool], shapes: dict[str, tuple[int, ...]]) -> dict[str, str | None]:
    """Role of every constant named in ``floating`` (name -> floating dtype?), from the graph's uses of it.

    None for a constant that no op uses (left to the name rules).
    """
    nodes = [node for graph in graphs(model.graph) for node in graph.node]
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = defaultdict(list)
    producer: dict[str, onnx.NodeProto] = {}
    for node in nodes:
        for slot, name in enumerate(node.input):
            if name:
                consumers[name].append((node, slot))
        for name in node.output:
            if name:
                producer[name] = node

    def origin(name: str) -> str:
        """The op producing ``name``, looking back through shape-only ops (bounded: graphs are acyclic)."""
        for _ in range(len(nodes) + 1):
            node = producer.get(name)
            if node is None or node.op_type not in _PASS or not node.input:
                return node.op_type if node is not None else ""
            name = node.input[0]
        return ""

    def uses(name: str) -> Iterator[tuple[onnx.NodeProto, int]]:
        seen, todo = {name}, [name]
        while todo:
            current = todo.pop()
            for node, slot in consumers.get(current, ()):
                if node.op_type in _PASS and slot == 0:
                    for out in node.output:
                        if out and out not in seen:
                            seen.add(out)
                            todo.append(out)
                else:
                    yield node, slot

    roles: dict[str, str | None] = {}
    for name, is_float in floating.items():
        found: set[str] = set()
        used = False
        for node, slot in uses(name):
            used = True
            op = node.op_type
            others = [x for i, x in enumerate(node.input) if i != slot and x]
            if _quantized_op(op):
                found.add("quantized")
            elif op == "Mul" and any(_quantized_op(origin(x)) for x in others):
                found.add("quantized")  # a scale multiplied into an integer op's result or scale (dynamic quantization)
            elif op in ("Add", "Sum") and _broadcast_vector(shapes.get(name, ())):
                if any(origin(x) in _LINEAR for x in others):
                    found.add("bias")
            elif op == "Gather" and slot == 0 and not is_float:
                found.add("buffer")
            elif op in SLOT_ROLES and slot in SLOT_ROLES[op]:
                found.add(SLOT_ROLES[op][slot])
        if not used:
            roles[name] = None  # no op uses it: the name rules decide
            continue
        if not found:
            found.add("other" if is_float else "buffer")
        roles[name] = next(role for role in PRIORITY if role in found)
    return roles
