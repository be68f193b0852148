"""TFLite models written as FlatBuffers with the schema's own builders: constants read, roles from the graph,
numbers equal to a plain numpy computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SEED
from tests.test_weights_formats import assert_matches_plain, scan_json
from tests.weights_fixtures import weights_like

pytest.importorskip("tflite")
pytest.importorskip("flatbuffers")
from tests.tflite_writer import Graph, Op, T, write  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def small_cnn(rng: np.random.Generator) -> Graph:
    """input -> CONV_2D(filter, bias) -> DEPTHWISE_CONV_2D(fp16 filter via DEQUANTIZE) -> FULLY_CONNECTED(int8 weight)."""
    tensors = [
        T("input", (1, 8, 8, 3)),
        T("conv/filter", (8, 3, 3, 3), data=weights_like(rng, (8, 3, 3, 3))),
        T("conv/bias", (8,), data=weights_like(rng, (8,))),
        T("conv/out", (1, 8, 8, 8)),
        T("dw/filter_fp16", (1, 3, 3, 8), "float16", data=weights_like(rng, (1, 3, 3, 8), 0.3).astype(np.float16)),
        T("dw/filter", (1, 3, 3, 8)),
        T("dw/out", (1, 8, 8, 8)),
        T("fc/weight_int8", (10, 512), "int8", data=rng.integers(-127, 128, (10, 512)).astype(np.int8), scale=[0.01]),
        T("fc/bias_int32", (10,), "int32", data=rng.integers(-1000, 1000, 10).astype(np.int32), scale=[1e-4]),
        T("fc/out", (1, 10)),
        T("reshape/shape", (2,), "int32", data=np.array([1, 512], np.int32)),
        T("reshape/out", (1, 512)),
        T("mel/basis", (64, 257), data=weights_like(rng, (64, 257))),  # a constant no op of a known slot uses
        T("mel/out", (1, 64)),
        T("fc2/weight", (64, 64), data=weights_like(rng, (64, 64))),
        T("fc2/out", (1, 64)),
        T("fc2/bias", (64,), data=weights_like(rng, (64,))),  # added after a bias-free FULLY_CONNECTED
        T("fc2/biased", (1, 64)),
        T("scale", (64,), data=weights_like(rng, (64,))),  # added to a MUL's output: not a bias
        T("y", (1, 64)),
    ]
    ops = [
        Op("CONV_2D", [0, 1, 2], [3]),
        Op("DEQUANTIZE", [4], [5]),
        Op("DEPTHWISE_CONV_2D", [3, 5, -1], [6]),
        Op("RESHAPE", [6, 10], [11]),
        Op("FULLY_CONNECTED", [11, 7, 8], [9]),
        Op("MUL", [9, 12], [13]),
        Op("FULLY_CONNECTED", [13, 14, -1], [15]),
        Op("ADD", [16, 15], [17]),
        Op("ADD", [13, 18], [19]),
    ]
    return Graph(tensors, ops)


def test_tflite_constants_roles_and_numbers(runner, tmp_path: Path, rng) -> None:
    graph = small_cnn(rng)
    path = write(tmp_path / "cnn.tflite", [graph])
    data = scan_json(runner, str(path), "--all")
    rows = {r["tensor"]: r for r in data["records"] if r["kind"] == "tensor"}
    floating = {t.name: t for t in graph.tensors if t.data is not None and t.dtype.startswith("float")}
    assert set(rows) == set(floating)
    for name, t in floating.items():
        assert_matches_plain(data["records"], name, t.data)
    roles = {name: r["role"] for name, r in rows.items()}
    assert roles == {"conv/filter": "weight", "conv/bias": "bias", "dw/filter_fp16": "weight", "mel/basis": "other",
                     "fc2/weight": "weight", "fc2/bias": "bias", "scale": "other"}
    summary = data["meta"]["left_out"]
    got = {(r["role"], r["type"], r["reason"]): r["tensors"] for r in summary["left_out"]}
    assert got == {("buffer", "int32", "not floating"): 1, ("quantized", "int32", "not floating"): 1, ("quantized", "int8", "not floating"): 1}


def test_tflite_default_scan_is_the_weights(runner, tmp_path: Path, rng) -> None:
    path = write(tmp_path / "cnn.tflite", [small_cnn(rng)])
    data = scan_json(runner, str(path))
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == {"conv/filter", "dw/filter_fp16", "fc2/weight"}
    assert all(r["role"] == "weight" for r in data["records"] if r["kind"] == "tensor")


def test_tflite_two_subgraphs_are_prefixed(tmp_path: Path, rng) -> None:
    from stecheck.weights.formats.tflite import tflite_tensors

    path = write(tmp_path / "two.tflite", [small_cnn(rng), small_cnn(rng)])
    names = [t.name for t in tflite_tensors(path)]
    assert names[0] == "subgraph0/conv/filter" and "subgraph1/conv/filter" in names and len(names) == 20


@pytest.mark.parametrize("dims", [(1 << 30, 1 << 30), (-4, 64), (4, 65)])
def test_tflite_shape_not_matching_its_buffer_is_refused(tmp_path: Path, dims) -> None:
    """Shapes rewritten in the FlatBuffer (absurd, negative, one too long): one-line refusals."""
    import struct

    from tests.test_fuzz_weights import outcome
    from tests.weights_new_formats import tflite_bytes

    data = tflite_bytes()
    shape = struct.pack("<Iii", 2, 4, 64)  # the weight's shape vector: length 2, then [4, 64]
    assert data.count(shape) == 1
    path = tmp_path / "attack.tflite"
    path.write_bytes(data.replace(shape, struct.pack("<Iii", 2, *dims)))
    result = outcome(path)
    assert result.startswith("refused: ") and ("absurd shape" in result or "bytes of data" in result), result
