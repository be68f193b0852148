"""Quantizers as spec strings: DoReFa, absmax/affine/fixed integer grids, FP formats, MX and NVFP4.

``parse_quantizer("absmax(4,group=128)")`` returns a :class:`Quantizer` whose ``quantize``,
``rounding_error``, ``finite_difference`` and ``ste`` act on a tensor; a fixed grid (stated scale) also has
``grid()``, which the exact references (:mod:`stecheck.core.quantizers.exact`) and the engine's per-chunk
path use.
"""

from __future__ import annotations

from stecheck.core.quantizers.base import FP_FORMATS, FloatBase, IntegerBase
from stecheck.core.quantizers.quantizer import FixedGrid, Quantizer, Scaling, code_error
from stecheck.core.quantizers.spec import DEFAULT_QUANTIZER, QUANTIZERS, parse_quantizer

__all__ = [
    "DEFAULT_QUANTIZER",
    "FP_FORMATS",
    "QUANTIZERS",
    "FixedGrid",
    "FloatBase",
    "IntegerBase",
    "Quantizer",
    "Scaling",
    "code_error",
    "parse_quantizer",
]
