"""README section: the tensor-role rules, rendered from the code that applies them (no results needed)."""

from __future__ import annotations

from stecheck.weights.formats.onnx_roles import SLOT_ROLES as ONNX_SLOTS
from stecheck.weights.formats.tflite import SLOT_ROLES as TFLITE_SLOTS
from stecheck.weights.roles import NAME_RULES, ROLES


def _slot_rows(fmt: str, how: str, table: dict[str, dict[int, str]]) -> list[str]:
    """One row per role: the ops and input slots (0-based) that give it, e.g. ``Conv[1], Gemm[0,1]``."""
    by_role: dict[str, list[str]] = {}
    for op, slots in table.items():
        for role in dict.fromkeys(slots.values()):
            by_role.setdefault(role, []).append(f"{op}[{','.join(str(i) for i, r in slots.items() if r == role)}]")
    return [f"| {fmt} | {how} | {', '.join(ops)} | `{role}` |" for role, ops in by_role.items()]


def render() -> str:
    lines = [
        f"Roles: {', '.join(f'`{r}`' for r in ROLES)}. `stecheck weights` scans role `weight` unless `--role` (e.g. "
        "`--role weight,bias`) or `--all` widens it; `--include`/`--exclude` filter names on top. Only floating tensors are "
        "scanned (GGUF quantized types are dequantized first).",
        "",
        "| format | how the role is decided | rule (first match wins) | role |",
        "|---|---|---|---|",
    ]
    for role, when in NAME_RULES:
        lines.append(f"| safetensors, PyTorch, npz/npy, GGUF, Keras | names | {when} | `{role}` |")
    lines += _slot_rows("ONNX", "graph: op[input slots] consuming the constant, through Identity, Reshape, Cast, Transpose, "
                        "(Un)Squeeze, Flatten, Expand", ONNX_SLOTS)
    lines += [
        "| ONNX | graph | a vector constant (at most one dimension above 1, e.g. [1, C, 1, 1]) added to the output of Conv, "
        "ConvTranspose, Gemm or MatMul | `bias` |",
        "| ONNX | graph | any input of QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, \\*Integer and QLinear\\* ops; a constant "
        "multiplied (Mul) with their output (the weight scale of dynamic quantization) | `quantized` |",
        "| ONNX | graph | another use: integer constants / floating constants | `buffer` / `other` |",
        "| ONNX | names | a constant no op uses | the name rules |",
    ]
    lines += _slot_rows("TFLite", "graph: op[input slots] consuming the constant (a float16 one through DEQUANTIZE)", TFLITE_SLOTS)
    lines += [
        "| TFLite | graph | a vector constant ADDed to the output of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV "
        "or BATCH_MATMUL | `bias` |",
        "| TFLite | tensor | an integer tensor with a quantization scale | `quantized` |",
        "| TFLite | graph | another use: integer constants / floating constants | `buffer` / `other` |",
        "| Keras 3 `.keras` | layer class from config.json | `layers/NAME/vars/I` is named by the class's variable order "
        "(Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean, moving_variance; ...), then the name rules | as named |",
        "| Keras `.h5` | names | `optimizer_weights/...` (optimizer state saved with the model) | `other` |",
        "",
        "Every run prints under its tables what was scanned and what was left out, by role and reason, and writes the same "
        "into meta.json (`left_out`), e.g. `scanned 14 tensors (4,272 elements, 7.57%); left out: 20 bias (1.8% of elements), "
        "1 buffer int32 (<0.1% of elements), 9 quantized int8 (91% of elements) -- this model is already quantized`.",
    ]
    return "\n".join(lines)
