"""Tensor roles: ONNX from the graph (one model per pattern, built with onnx.helper), the name rules on key sets
of real architectures, and the left-out summary of a scan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from stecheck.errors import ConfigError, StecheckError
from stecheck.weights.formats.onnx import onnx_tensors
from stecheck.weights.roles import name_roles, parse_roles
from stecheck.weights.scan import left_out, select
from stecheck.weights.sources import open_path
from tests.conftest import invoke

F = TensorProto.FLOAT


def _rng() -> np.random.Generator:
    return np.random.default_rng(20261129)


def _init(name: str, shape: tuple[int, ...], dtype: type = np.float32) -> onnx.TensorProto:
    rng = _rng()
    if np.dtype(dtype).kind == "f":
        array = rng.normal(0, 0.1, shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype)
    return numpy_helper.from_array(array, name)


def _model(nodes, inputs, outputs, inits, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _roles(tmp_path: Path, model: onnx.ModelProto) -> dict[str, str]:
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path))
    return {t.name: t.role for t in open_path(path).tensors}


def _vi(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


# ---------------------------------------------------------------- ONNX patterns


def test_conv_with_bias(tmp_path: Path) -> None:
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1])
    model = _model([node], [_vi("x", F, [1, 3, 8, 8])], [_vi("y", F, [1, 4, 8, 8])], [_init("W", (4, 3, 3, 3)), _init("B", (4,))])
    assert _roles(tmp_path, model) == {"W": "weight", "B": "bias"}


def test_conv_then_add_of_a_broadcast_constant_is_a_bias(tmp_path: Path) -> None:
    """Paddle2ONNX's layout: Constant nodes, a bias-free Conv, then Add of a [1, C, 1, 1] reshape constant."""
    rng = _rng()
    w = helper.make_node("Constant", [], ["conv2d_0.w_0"], value=numpy_helper.from_array(rng.normal(0, 0.1, (4, 3, 3, 3)).astype(np.float32)))
    b = helper.make_node("Constant", [], ["p2o.pd_op.reshape.0.0"], value=numpy_helper.from_array(rng.normal(0, 0.1, (1, 4, 1, 1)).astype(np.float32)))
    # an Add of a full-size constant is not a bias, nor is a broadcast constant added to a non-linear op's output
    full = helper.make_node("Constant", [], ["offset_map"], value=numpy_helper.from_array(rng.normal(0, 1, (1, 4, 8, 8)).astype(np.float32)))
    shift = helper.make_node("Constant", [], ["relu_shift"], value=numpy_helper.from_array(rng.normal(0, 1, (1, 4, 1, 1)).astype(np.float32)))
    nodes = [
        w, b, full, shift,
        helper.make_node("Conv", ["x", "conv2d_0.w_0"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "p2o.pd_op.reshape.0.0"], ["a"]),
        helper.make_node("Add", ["a", "offset_map"], ["b"]),
        helper.make_node("Relu", ["b"], ["r"]),
        helper.make_node("Add", ["relu_shift", "r"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", F, [1, 3, 8, 8])], [_vi("y", F, [1, 4, 8, 8])], [])
    assert _roles(tmp_path, model) == {"conv2d_0.w_0": "weight", "p2o.pd_op.reshape.0.0": "bias", "offset_map": "other", "relu_shift": "other"}


def test_gemm(tmp_path: Path) -> None:
    node = helper.make_node("Gemm", ["x", "Wg", "Cg"], ["y"], transB=1)
    model = _model([node], [_vi("x", F, [2, 4])], [_vi("y", F, [2, 5])], [_init("Wg", (5, 4)), _init("Cg", (5,))])
    assert _roles(tmp_path, model) == {"Wg": "weight", "Cg": "bias"}


def test_matmul_through_a_transpose_then_add(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Transpose", ["Wt"], ["W"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "W"], ["m"]),
        helper.make_node("Add", ["m", "bm"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", F, [2, 4])], [_vi("y", F, [2, 6])], [_init("Wt", (6, 4)), _init("bm", (6,))])
    assert _roles(tmp_path, model) == {"Wt": "weight", "bm": "bias"}


def test_lstm(tmp_path: Path) -> None:
    hidden, inp = 3, 4
    node = helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y"], hidden_size=hidden)
    inits = [_init("W", (1, 4 * hidden, inp)), _init("R", (1, 4 * hidden, hidden)), _init("B", (1, 8 * hidden)),
             _init("h0", (1, 2, hidden)), _init("c0", (1, 2, hidden))]
    model = _model([node], [_vi("x", F, [5, 2, inp])], [_vi("y", F, [5, 1, 2, hidden])], inits)
    assert _roles(tmp_path, model) == {"W": "weight", "R": "weight", "B": "bias", "h0": "buffer", "c0": "buffer"}


def test_batch_normalization(tmp_path: Path) -> None:
    node = helper.make_node("BatchNormalization", ["x", "scale", "shift", "mean", "var"], ["y"])
    inits = [_init("scale", (3,)), _init("shift", (3,)), _init("mean", (3,)), _init("var", (3,))]
    model = _model([node], [_vi("x", F, [1, 3, 4, 4])], [_vi("y", F, [1, 3, 4, 4])], inits)
    assert _roles(tmp_path, model) == {"scale": "norm", "shift": "norm", "mean": "buffer", "var": "buffer"}


def test_qdq_model(tmp_path: Path) -> None:
    """QuantizeLinear/DequantizeLinear around a Conv: every constant of the pattern is quantized storage."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"]),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["bd"]),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"), numpy_helper.from_array(np.array(0, np.uint8), "x_zp"),
        _init("w_q", (4, 3, 1, 1), np.int8), numpy_helper.from_array(np.array(0.01, np.float32), "w_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "w_zp"), _init("b_q", (4,), np.int32),
        numpy_helper.from_array(np.array(0.0002, np.float32), "b_scale"),
    ]
    model = _model(nodes, [_vi("x", F, [1, 3, 4, 4])], [_vi("y", F, [1, 4, 4, 4])], inits)
    roles = _roles(tmp_path, model)
    assert roles == dict.fromkeys(["x_scale", "x_zp", "w_q", "w_scale", "w_zp", "b_q", "b_scale"], "quantized")


def test_conv_integer_model_and_its_left_out_summary(tmp_path: Path) -> None:
    """A dynamically quantized model: ConvInteger's int8 weight and zero points are quantized; the one float
    tensor is scanned and the summary names what was left out."""
    # onnxruntime's dynamic quantization: scale = x_scale * w_scale; y = Cast(ConvInteger(...)) * scale
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("Mul", ["xs", "w_scale"], ["scale"]),
        helper.make_node("ConvInteger", ["xq", "w_int8", "xz", "w_zero"], ["ci"]),
        helper.make_node("Cast", ["ci"], ["cf"], to=F),
        helper.make_node("Mul", ["cf", "scale"], ["s"]),
        helper.make_node("Mul", ["s", "gain"], ["g"]),
        helper.make_node("Flatten", ["g"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w"], ["y"]),
    ]
    inits = [_init("w_int8", (4, 3, 3, 3), np.int8), numpy_helper.from_array(np.array(0, np.int8), "w_zero"),
             numpy_helper.from_array(np.array(0.01, np.float32), "w_scale"), numpy_helper.from_array(np.array(2.0, np.float32), "gain"),
             _init("fc_w", (144, 5))]
    graph = helper.make_graph(nodes, "g", [_vi("x", F, [1, 3, 6, 6])], [_vi("y", F, [1, 5])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    roles = _roles(tmp_path, model)
    # a float constant multiplied into the output of a Mul (not of a quantized op) is no scale of quantization
    assert roles == {"w_int8": "quantized", "w_zero": "quantized", "w_scale": "quantized", "gain": "other", "fc_w": "weight"}
    tensors = open_path(tmp_path / "m.onnx").tensors
    assert [t.name for t in select(tensors)] == ["fc_w"]
    summary = left_out(tensors)
    assert summary["scanned"] == {"tensors": 1, "elements": 720}
    total = 108 + 1 + 1 + 1 + 720
    rows = {(r["role"], r["type"]): (r["tensors"], r["elements"], r["share_of_elements"]) for r in summary["left_out"]}
    assert rows == {("quantized", "int8"): (2, 109, 109 / total), ("quantized", "float32"): (1, 1, 1 / total),
                    ("other", None): (1, 1, 1 / total)}
    assert "2 quantized int8 (13% of elements)" in summary["text"] and "already quantized" in summary["text"]


def test_gather_embedding_and_layer_norm(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["e"]),
        helper.make_node("LayerNormalization", ["e", "ln_g", "ln_b"], ["y"], axis=-1),
    ]
    inits = [_init("emb", (10, 4)), numpy_helper.from_array(np.array([1, 2], np.int64), "ids"), _init("ln_g", (4,)), _init("ln_b", (4,))]
    model = _model(nodes, [], [_vi("y", F, [2, 4])], inits)
    assert _roles(tmp_path, model) == {"emb": "weight", "ids": "buffer", "ln_g": "norm", "ln_b": "norm"}


# ---------------------------------------------------------------- name rules on real key sets

# (name, shape, floating, role): key names and shapes as the frameworks write them
BERT = [
    ("bert.embeddings.word_embeddings.weight", (30522, 768), True, "weight"),
    ("bert.embeddings.position_embeddings.weight", (512, 768), True, "weight"),
    ("bert.embeddings.token_type_embeddings.weight", (2, 768), True, "weight"),
    ("bert.embeddings.LayerNorm.weight", (768,), True, "norm"),
    ("bert.embeddings.LayerNorm.bias", (768,), True, "norm"),
    ("bert.embeddings.position_ids", (1, 512), False, "buffer"),
    ("bert.encoder.layer.0.attention.self.query.weight", (768, 768), True, "weight"),
    ("bert.encoder.layer.0.attention.self.query.bias", (768,), True, "bias"),
    ("bert.encoder.layer.0.attention.self.key.weight", (768, 768), True, "weight"),
    ("bert.encoder.layer.0.attention.self.key.bias", (768,), True, "bias"),
    ("bert.encoder.layer.0.attention.self.value.weight", (768, 768), True, "weight"),
    ("bert.encoder.layer.0.attention.self.value.bias", (768,), True, "bias"),
    ("bert.encoder.layer.0.attention.output.dense.weight", (768, 768), True, "weight"),
    ("bert.encoder.layer.0.attention.output.dense.bias", (768,), True, "bias"),
    ("bert.encoder.layer.0.attention.output.LayerNorm.weight", (768,), True, "norm"),
    ("bert.encoder.layer.0.attention.output.LayerNorm.bias", (768,), True, "norm"),
    ("bert.encoder.layer.0.intermediate.dense.weight", (3072, 768), True, "weight"),
    ("bert.encoder.layer.0.intermediate.dense.bias", (3072,), True, "bias"),
    ("bert.encoder.layer.0.output.dense.weight", (768, 3072), True, "weight"),
    ("bert.encoder.layer.0.output.dense.bias", (768,), True, "bias"),
    ("bert.encoder.layer.0.output.LayerNorm.gamma", (768,), True, "norm"),  # TF-converted checkpoints
    ("bert.encoder.layer.0.output.LayerNorm.beta", (768,), True, "norm"),
    ("bert.pooler.dense.weight", (768, 768), True, "weight"),
    ("bert.pooler.dense.bias", (768,), True, "bias"),
]
RESNET = [
    ("conv1.weight", (64, 3, 7, 7), True, "weight"),
    ("bn1.weight", (64,), True, "norm"),
    ("bn1.bias", (64,), True, "norm"),
    ("bn1.running_mean", (64,), True, "buffer"),
    ("bn1.running_var", (64,), True, "buffer"),
    ("bn1.num_batches_tracked", (), False, "buffer"),
    ("layer1.0.conv1.weight", (64, 64, 3, 3), True, "weight"),
    ("layer1.0.bn1.weight", (64,), True, "norm"),
    ("layer1.0.bn1.bias", (64,), True, "norm"),
    ("layer1.0.bn1.running_mean", (64,), True, "buffer"),
    ("layer1.0.bn1.running_var", (64,), True, "buffer"),
    ("layer2.0.downsample.0.weight", (128, 64, 1, 1), True, "weight"),
    ("layer2.0.downsample.1.weight", (128,), True, "norm"),
    ("layer2.0.downsample.1.bias", (128,), True, "norm"),  # a batch norm known only by its running statistics
    ("layer2.0.downsample.1.running_mean", (128,), True, "buffer"),
    ("layer2.0.downsample.1.running_var", (128,), True, "buffer"),
    ("layer2.0.downsample.1.num_batches_tracked", (), False, "buffer"),
    ("fc.weight", (1000, 512), True, "weight"),
    ("fc.bias", (1000,), True, "bias"),
]
LLAMA = [
    ("model.embed_tokens.weight", (32000, 4096), True, "weight"),
    ("model.layers.0.self_attn.q_proj.weight", (4096, 4096), True, "weight"),
    ("model.layers.0.self_attn.k_proj.weight", (4096, 4096), True, "weight"),
    ("model.layers.0.self_attn.v_proj.weight", (4096, 4096), True, "weight"),
    ("model.layers.0.self_attn.o_proj.weight", (4096, 4096), True, "weight"),
    ("model.layers.0.self_attn.rotary_emb.inv_freq", (64,), True, "buffer"),
    ("model.layers.0.mlp.gate_proj.weight", (11008, 4096), True, "weight"),
    ("model.layers.0.mlp.up_proj.weight", (11008, 4096), True, "weight"),
    ("model.layers.0.mlp.down_proj.weight", (4096, 11008), True, "weight"),
    ("model.layers.0.input_layernorm.weight", (4096,), True, "norm"),
    ("model.layers.0.post_attention_layernorm.weight", (4096,), True, "norm"),
    ("model.norm.weight", (4096,), True, "norm"),
    ("lm_head.weight", (32000, 4096), True, "weight"),
]
KERAS_CNN = [  # Keras 2 HDF5 paths of a mini-Xception-style CNN
    ("model_weights/conv2d_1/conv2d_1/kernel:0", (3, 3, 1, 8), True, "weight"),
    ("model_weights/batch_normalization_1/batch_normalization_1/gamma:0", (8,), True, "norm"),
    ("model_weights/batch_normalization_1/batch_normalization_1/beta:0", (8,), True, "norm"),
    ("model_weights/batch_normalization_1/batch_normalization_1/moving_mean:0", (8,), True, "buffer"),
    ("model_weights/batch_normalization_1/batch_normalization_1/moving_variance:0", (8,), True, "buffer"),
    ("model_weights/separable_conv2d_1/separable_conv2d_1/depthwise_kernel:0", (3, 3, 8, 1), True, "weight"),
    ("model_weights/separable_conv2d_1/separable_conv2d_1/pointwise_kernel:0", (1, 1, 8, 16), True, "weight"),
    ("model_weights/conv2d_5/conv2d_5/kernel:0", (3, 3, 128, 7), True, "weight"),
    ("model_weights/conv2d_5/conv2d_5/bias:0", (7,), True, "bias"),
    ("model_weights/dense/dense/kernel:0", (1600, 10), True, "weight"),
    ("model_weights/dense/dense/bias:0", (10,), True, "bias"),
    ("model_weights/embedding/embedding/embeddings:0", (1000, 64), True, "weight"),
    ("model_weights/lstm/lstm/lstm_cell/kernel:0", (64, 128), True, "weight"),
    ("model_weights/lstm/lstm/lstm_cell/recurrent_kernel:0", (32, 128), True, "weight"),
    ("model_weights/lstm/lstm/lstm_cell/bias:0", (128,), True, "bias"),
]
GGUF_LLAMA = [
    ("token_embd.weight", (32000, 4096), True, "weight"),
    ("blk.0.attn_norm.weight", (4096,), True, "norm"),
    ("blk.0.attn_q.weight", (4096, 4096), True, "weight"),
    ("blk.0.attn_k.weight", (1024, 4096), True, "weight"),
    ("blk.0.attn_v.weight", (1024, 4096), True, "weight"),
    ("blk.0.attn_output.weight", (4096, 4096), True, "weight"),
    ("blk.0.ffn_norm.weight", (4096,), True, "norm"),
    ("blk.0.ffn_gate.weight", (14336, 4096), True, "weight"),
    ("blk.0.ffn_up.weight", (14336, 4096), True, "weight"),
    ("blk.0.ffn_down.weight", (4096, 14336), True, "weight"),
    ("output_norm.weight", (4096,), True, "norm"),
    ("output.weight", (32000, 4096), True, "weight"),
    ("rope_freqs.weight", (64,), True, "buffer"),
]
GPTQ = [  # an AutoGPTQ layer: int32-packed weights with their scales and zeros
    ("model.layers.0.self_attn.q_proj.qweight", (512, 4096), False, "quantized"),
    ("model.layers.0.self_attn.q_proj.qzeros", (32, 512), False, "quantized"),
    ("model.layers.0.self_attn.q_proj.scales", (32, 4096), True, "quantized"),
    ("model.layers.0.self_attn.q_proj.g_idx", (4096,), False, "quantized"),
    ("model.layers.0.input_layernorm.weight", (4096,), True, "norm"),
]


@pytest.mark.parametrize("keys", [BERT, RESNET, LLAMA, KERAS_CNN, GGUF_LLAMA, GPTQ], ids=["bert", "resnet", "llama", "keras-cnn", "gguf-llama", "gptq"])
def test_name_rules_on_real_key_sets(keys) -> None:
    got = name_roles([(name, shape, floating) for name, shape, floating, _ in keys])
    assert {k[0]: r for k, r in zip(keys, got)} == {k[0]: k[3] for k in keys}


def test_parse_roles() -> None:
    assert parse_roles(["weight,bias", "norm", "bias"]) == ("weight", "bias", "norm")
    with pytest.raises(ConfigError, match="unknown role 'kernel'"):
        parse_roles(["weight,kernel"])


# ---------------------------------------------------------------- the CLI: --role, --all, the summary


@pytest.fixture()
def bert_like(tmp_path: Path) -> Path:
    """A safetensors file with the BERT key names above, small shapes."""
    from safetensors.numpy import save_file

    rng = _rng()
    tensors = {}
    for name, shape, floating, _ in BERT:
        small = tuple(min(d, 24) for d in shape)
        tensors[name] = rng.normal(0, 0.05, small).astype(np.float32) if floating else np.arange(np.prod(small)).reshape(small)
    path = tmp_path / "bert.safetensors"
    save_file(tensors, str(path))
    return path


def _expected(role_set: set[str]) -> set[str]:
    return {name for name, _s, floating, role in BERT if role in role_set and floating}


def test_default_role_is_weight_and_role_all_widen(runner, bert_like: Path, tmp_path: Path) -> None:
    args = ("-k", "2", "--no-save", "--format", "json", "-q")
    data = json.loads(invoke(runner, "weights", str(bert_like), *args).stdout)
    tensors = {r["tensor"]: r["role"] for r in data["records"] if r["kind"] == "tensor"}
    assert set(tensors) == _expected({"weight"}) and set(tensors.values()) == {"weight"}
    data = json.loads(invoke(runner, "weights", str(bert_like), "--role", "weight,bias", "--role", "norm", *args).stdout)
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == _expected({"weight", "bias", "norm"})
    data = json.loads(invoke(runner, "weights", str(bert_like), "--all", *args).stdout)
    assert {r["tensor"] for r in data["records"] if r["kind"] == "tensor"} == _expected({"weight", "bias", "norm", "buffer", "other"})
    result = invoke(runner, "weights", str(bert_like), "--role", "kernel", *args)
    assert result.exit_code == 2 and "unknown role 'kernel'" in result.stderr


def test_left_out_summary_in_table_and_meta(runner, bert_like: Path, tmp_path: Path) -> None:
    """The summary's counts are those of the key set; it is printed under the tables and written to meta.json."""
    out = tmp_path / "out"
    result = invoke(runner, "weights", str(bert_like), "-k", "2", "--out", str(out), "-q")
    assert result.exit_code == 0, result.stderr
    meta = json.loads((out / "meta.json").read_text())
    sizes = {name: int(np.prod([min(d, 24) for d in shape])) for name, shape, _f, _r in BERT}
    total = sum(sizes.values())
    want: dict[str, list[int]] = {}
    for name, _shape, _floating, role in BERT:
        if role != "weight":
            want.setdefault(role, [0, 0])
            want[role][0] += 1
            want[role][1] += sizes[name]
    summary = meta["left_out"]
    assert summary["scanned"] == {"tensors": len(_expected({"weight"})), "elements": sum(sizes[n] for n in _expected({"weight"}))}
    assert summary["total"] == {"tensors": len(BERT), "elements": total}
    got = {r["role"]: [r["tensors"], r["elements"]] for r in summary["left_out"]}
    assert got == want
    for r in summary["left_out"]:
        assert r["reason"] == "role" and r["share_of_elements"] == pytest.approx(r["elements"] / total)
    assert meta["tensors_skipped"] == len(BERT) - summary["scanned"]["tensors"]
    lines = result.stdout.splitlines()
    summary_line = next(i for i, line in enumerate(lines) if line.startswith("scanned "))
    last_table_row = max(i for i, line in enumerate(lines) if "pooler.dense.weight" in line)
    assert summary_line > last_table_row  # under the tables
    assert f"{want['bias'][0]} bias ({100 * want['bias'][1] / total:.2g}% of elements)" in lines[summary_line]
    assert f"{want['norm'][0]} norm" in lines[summary_line] and "1 buffer int64" in lines[summary_line]


def test_no_tensor_of_the_role_names_the_roles_present(tmp_path: Path) -> None:
    node = helper.make_node("BatchNormalization", ["x", "scale", "shift", "mean", "var"], ["y"])
    model = _model([node], [_vi("x", F, [1, 3, 4, 4])], [_vi("y", F, [1, 3, 4, 4])],
                   [_init("scale", (3,)), _init("shift", (3,)), _init("mean", (3,)), _init("var", (3,))])
    path = tmp_path / "bn.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(StecheckError, match="roles norm, buffer: try --role or --all"):
        select(onnx_tensors(path))
    assert [t.name for t in select(onnx_tensors(path), roles=("buffer",))] == ["mean", "var"]


def test_left_out_by_the_name_filters_is_its_own_reason(bert_like: Path) -> None:
    tensors = open_path(bert_like).tensors
    summary = left_out(tensors, exclude=["query"], roles=("weight", "bias"))
    rows = {(r["role"], r["reason"]): r["tensors"] for r in summary["left_out"]}
    assert rows[("weight", "name filter")] == 1 and rows[("bias", "name filter")] == 1
    assert "1 weight by the name filters" in summary["text"]
    scanned = select(tensors, exclude=["query"], roles=("weight", "bias"))
    assert summary["scanned"]["tensors"] == len(scanned) == len(_expected({"weight", "bias"})) - 2
