"""What each tensor of a model is: a learned ``weight``, a ``bias``, a ``norm`` scale/shift, a ``buffer``,
``quantized`` storage or ``other``.

Two ways to decide. Formats that keep only names (safetensors, PyTorch, npz, GGUF, Keras) are classified by
the naming conventions of the frameworks that write them (:func:`name_roles`, the rules of :data:`NAME_RULES`,
tabled in the README); ONNX is classified from its graph, by the input slot of the op that consumes each
tensor (:mod:`stecheck.weights.formats.onnx_roles`). Pure functions of names, shapes and dtypes: no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Final, Iterable, Sequence

import numpy as np

__all__ = ["ROLES", "DEFAULT_ROLES", "NAME_RULES", "name_role", "name_roles", "parse_roles", "parts"]

#: Every role, in the order they are reported.
ROLES: Final = ("weight", "bias", "norm", "buffer", "quantized", "other")
#: What a scan covers unless ``--role`` or ``--all`` widens it.
DEFAULT_ROLES: Final = ("weight",)

_BUFFER_WORDS: Final = frozenset({
    "running_mean", "running_var", "num_batches_tracked", "moving_mean", "moving_variance", "position_ids",
    "token_type_ids", "inv_freq", "rope_freqs", "freqs_cis", "anchors", "masked_bias", "attn_mask",
})
_BUFFER_PATTERN: Final = re.compile(r"(^|_)(buffer|basis|window|mask|freqs?|anchors?|stft|istft|dft|fbank|filterbank|mel_filters)($|_)")
_NORM_PATTERN: Final = re.compile(
    r"(^|_)(norm|ln|ln\d+|ln_f|bn|bn\d+|layernorm|layer_norm|batchnorm|batch_norm|batch_normalization(_\d+)?|"
    r"layer_normalization(_\d+)?|group_norm|groupnorm|rmsnorm|rms_norm|\w*_norm|norm\d*|input_layernorm|"
    r"post_attention_layernorm)($|_)"
)
_BIAS_LEAVES: Final = frozenset({"bias", "b", "in_proj_bias", "bias_ih", "bias_hh", "recurrent_bias"})

#: The name rules, first match wins: (role, when), for the README table. ``leaf`` is the last name part.
NAME_RULES: Final = (
    ("quantized", "the loader read quantized storage (GGUF Q4_K, Q8_0, ...); the leaf is qweight, qzeros, scales, g_idx, SCB, "
                  "weight_scale, weight_zero_point, absmax, ...; or an integer weight next to such a scale"),
    ("buffer", "an integer or boolean tensor (ids, counters, index tables); a part is running_mean, running_var, num_batches_tracked, moving_mean, moving_variance, position_ids, "
               "inv_freq, rope_freqs, ...; or contains buffer, basis, window, mask, freq(s), anchor(s), stft, dft, fbank, filterbank as a word (fixed bases such as "
               "silero-vad's stft_conv.weight)"),
    ("norm", "a part names a normalisation (norm, ln, ln_f, bn1, LayerNorm, batch_normalization, attn_norm, ffn_norm, "
             "output_norm, ...); or the leaf is gamma or beta; or the leaf is weight/bias of a 1-d pair with running "
             "statistics; or a 1-d leaf weight (a PyTorch norm scale)"),
    ("bias", "the leaf is bias, b, in_proj_bias, recurrent_bias or starts with bias_ (bias_ih_l0, ...), and the tensor is a "
             "vector (at most one dimension above 1)"),
    ("weight", "any other floating tensor with ndim >= 2 (weight, kernel, embeddings, recurrent_kernel, weight_ih_l0, ...)"),
    ("other", "anything else (floating scalars and 1-d tensors without a convention)"),
)


def parse_roles(values: Iterable[str]) -> tuple[str, ...]:
    """``["weight,bias", "norm"]`` -> ``("weight", "bias", "norm")``, each checked against :data:`ROLES`."""
    out: list[str] = []
    for value in values:
        for role in (v.strip().lower() for v in value.split(",")):
            if not role:
                continue
            if role not in ROLES:
                from stecheck.errors import ConfigError

                raise ConfigError(f"unknown role {role!r}: expected a comma-separated list of {', '.join(ROLES)}")
            if role not in out:
                out.append(role)
    return tuple(out)


def parts(name: str) -> list[str]:
    """Lower-case name parts, split at ``.``, ``/`` and ``:``, Keras' ``:0`` suffix dropped."""
    name = re.sub(r":\d+$", "", name)
    return [p for p in re.split(r"[./:]", name.lower()) if p]


def _is_norm_part(part: str) -> bool:
    return bool(_NORM_PATTERN.search(part))


_QUANT_LEAVES: Final = frozenset({"qweight", "qzeros", "scales", "g_idx", "scb", "weight_scale", "weight_zero_point",
                                  "input_scale", "weight_scale_inv", "absmax", "quant_map", "quant_state"})


def name_role(name: str, shape: Sequence[int], floating: bool, norm_prefix: bool = False, scaled_prefix: bool = False) -> str:
    """The role of one tensor from its name (rules of :data:`NAME_RULES`, quantized excepted).

    ``norm_prefix``: the tensor's prefix also holds running statistics (a batch norm whose module name has no
    ``bn``/``norm``, e.g. ResNet's ``downsample.1``). ``scaled_prefix``: the prefix also holds a quantization
    scale (GPTQ ``scales``, bitsandbytes ``SCB``, FP8 ``weight_scale``), so an integer tensor there is quantized.
    """
    words = parts(name)
    if not words:
        return "weight" if floating and len(shape) >= 2 else "other"
    leaf = words[-1]
    if leaf in _QUANT_LEAVES or (scaled_prefix and not floating and leaf in ("weight", "qweight")):
        return "quantized"
    if any(w in _BUFFER_WORDS or _BUFFER_PATTERN.search(w) for w in words):
        return "buffer"
    if not floating:
        return "buffer"
    ndim = len(shape)
    if leaf in ("gamma", "beta") or any(_is_norm_part(w) for w in words[:-1]) or _is_norm_part(leaf):
        return "norm"
    if norm_prefix and leaf in ("weight", "bias") and ndim <= 1:
        return "norm"
    if (leaf in _BIAS_LEAVES or leaf.startswith("bias_")) and sum(1 for d in shape if d > 1) <= 1:
        return "bias"
    if ndim >= 2:
        return "weight"
    if leaf == "weight" and ndim == 1:
        return "norm"
    return "other"


def _prefix(name: str) -> str:
    cut = max(name.rfind("."), name.rfind("/"))
    return name[:cut] if cut >= 0 else ""


def name_roles(tensors: Sequence[tuple[str, Sequence[int], np.dtype | bool]]) -> list[str]:
    """Roles of a model's tensors ``(name, shape, floating)`` from their names, seeing the whole key set.

    The key set matters once: a ``weight``/``bias`` pair next to ``running_mean`` belongs to a batch norm.
    """
    stats: dict[str, bool] = defaultdict(bool)
    scaled: dict[str, bool] = defaultdict(bool)
    for name, _shape, _floating in tensors:
        words = parts(name)
        if words and words[-1] in ("running_mean", "running_var", "moving_mean", "moving_variance"):
            stats[_prefix(re.sub(r":\d+$", "", name))] = True
        if words and words[-1] in _QUANT_LEAVES:
            scaled[_prefix(re.sub(r":\d+$", "", name))] = True
    out = []
    for name, shape, floating in tensors:
        prefix = _prefix(re.sub(r":\d+$", "", name))
        out.append(name_role(name, shape, bool(floating), stats.get(prefix, False), scaled.get(prefix, False)))
    return out
