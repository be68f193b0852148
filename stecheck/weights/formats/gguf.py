"""llama.cpp ``.gguf`` files, through the ``gguf`` package (an optional extra: ``pip install 'stecheck[gguf]'``).

The header (metadata and tensor infos) is parsed by ``gguf.GGUFReader``; no code is run. Float tensors (F32, F16,
BF16, F64) are then read by offset, chunk by chunk; quantized tensors (Q4_0 ... Q8_0, the K-quants Q2_K ... Q6_K,
the IQ types, ...) are dequantized block by block with ``gguf.quants.dequantize`` -- the package's own
reference dequantization -- and get role ``quantized`` with their type (e.g. ``Q4_K``). Each tensor's data range
is checked against the file size, and a row length that is not a whole number of blocks is refused.

GGUF stores dimensions innermost first (``ne[0]`` is the row length); shapes are reported in numpy order.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Final

import ml_dtypes
import numpy as np

from stecheck.errors import StecheckError
from stecheck.weights.tensors import TensorRef

__all__ = ["gguf_tensors"]

_PLAIN: Final = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype(ml_dtypes.bfloat16), "F64": np.dtype("<f8"),
                 "I8": np.dtype("i1"), "I16": np.dtype("<i2"), "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}
#: A shape with more elements than this is refused as absurd.
MAX_ELEMENTS: Final = 1 << 40


def _import(path: Path) -> Any:
    try:
        import gguf
    except ImportError:
        raise StecheckError(f"reading the GGUF file {str(path)!r} needs the gguf package: pip install 'stecheck[gguf]'") from None
    return gguf


def _bad(path: Path, why: str) -> StecheckError:
    return StecheckError(f"{str(path)!r} is not a valid GGUF file: {why}")


def gguf_tensors(path: Path) -> list[TensorRef]:
    """The tensors of a GGUF file in file order: floats by offset, quantized types dequantized lazily."""
    path = Path(path)
    gguf = _import(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise _bad(path, "the file is empty")
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise _bad(path, "no GGUF magic")
        reader = gguf.GGUFReader(path)
        infos = [(t.name, t.tensor_type, [int(d) for d in t.shape], int(t.data_offset)) for t in reader.tensors]
    except StecheckError:
        raise
    except OSError as exc:
        raise StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except Exception as exc:  # the reader raises ValueError, KeyError, IndexError, ... on corrupt headers
        raise _bad(path, f"{type(exc).__name__}: {str(exc)[:200]}") from None
    out = []
    for name, qtype, dims, offset in infos:
        kind = getattr(qtype, "name", str(qtype))
        count = math.prod(dims)
        if min(dims, default=1) < 0 or count > MAX_ELEMENTS:
            raise _bad(path, f"tensor {name!r} has an absurd shape {dims[::-1]}")
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        if dims and dims[0] % block:
            raise _bad(path, f"tensor {name!r}: row length {dims[0]} is not a multiple of the {kind} block size {block}")
        nbytes = count // block * type_size
        if offset < 0 or offset + nbytes > size:
            raise _bad(path, f"truncated: tensor {name!r} ends at byte {offset + nbytes} of {size}")
        shape = tuple(reversed(dims))
        if kind in _PLAIN:
            out.append(TensorRef(name, shape, _PLAIN[kind], _plain_reader(path, offset, _PLAIN[kind])))
        else:
            ref = TensorRef(name, shape, np.dtype(np.float32), _quant_reader(path, offset, qtype, block, type_size, gguf))
            ref.role, ref.stored = "quantized", kind
            out.append(ref)
    return out


def _pread(path: Path, nbytes: int, offset: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, nbytes, offset)
    finally:
        os.close(fd)
    if len(data) != nbytes:
        raise _bad(path, "truncated while reading")
    return data


def _plain_reader(path: Path, offset: int, dtype: np.dtype) -> Callable[[int, int], np.ndarray]:
    def read(first: int, count: int) -> np.ndarray:
        return np.frombuffer(_pread(path, count * dtype.itemsize, offset + first * dtype.itemsize), dtype=dtype)

    return read


def _quant_reader(path: Path, offset: int, qtype: Any, block: int, type_size: int, gguf: Any) -> Callable[[int, int], np.ndarray]:
    """Elements ``first .. first + count`` of a quantized tensor: the covering blocks, dequantized, then sliced."""

    def read(first: int, count: int) -> np.ndarray:
        b0, b1 = first // block, -(-(first + count) // block)
        raw = np.frombuffer(_pread(path, (b1 - b0) * type_size, offset + b0 * type_size), dtype=np.uint8)
        try:
            values = np.asarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
        except (NotImplementedError, ValueError) as exc:
            raise _bad(path, f"cannot dequantize {getattr(qtype, 'name', qtype)}: {exc}") from None
        start = first - b0 * block
        return values[start:start + count]

    return read
