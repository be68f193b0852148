"""safetensors files, read without loading: the header JSON is parsed here and each tensor is read by
offset, chunk by chunk (``os.pread``), so a file larger than memory scans in constant memory.

Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N bytes of
JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the data
section; offsets are relative to its start, tensors are little-endian and C-ordered.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Callable, Final

import ml_dtypes
import numpy as np

from stecheck.errors import StecheckError
from stecheck.safe_io import open_regular
from stecheck.weights.tensors import TensorRef, check_shape

__all__ = ["DTYPES", "header_tensors", "parse_header", "read_header", "safetensors_tensors"]

DTYPES: Final = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_MAX_HEADER: Final = 100_000_000


def _bad(path: Path | str, why: str) -> StecheckError:
    return StecheckError(f"{str(path)!r} is not a valid safetensors file: {why}")


class _DuplicateKey(Exception):
    """A JSON object of the header names a key twice (json would silently keep the last)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_header(path: Path) -> tuple[dict, int, int]:
    """``(header, data_start, file_size)`` of a safetensors file, validated against the file size."""
    path = Path(path)
    fd = open_regular(path, "safetensors file")
    try:
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            header, start = parse_header(str(path), size, lambda offset, nbytes: os.pread(handle.fileno(), nbytes, offset))
    except OSError as exc:
        raise StecheckError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    return header, start, size


def parse_header(label: str, size: int, read_at: Callable[[int, int], bytes]) -> tuple[dict, int]:
    """``(header, data_start)`` of a safetensors file of ``size`` bytes read by ``read_at(offset, nbytes)``
    (a local file, or a byte-range request to remote storage); ``label`` names it in errors."""
    head = read_at(0, 8) if size >= 8 else b""
    if len(head) < 8:
        raise _bad(label, "shorter than its 8-byte header length" if size else "the file is empty")
    (length,) = struct.unpack("<Q", head)
    if length > min(_MAX_HEADER, size - 8):
        raise _bad(label, f"header length {length} exceeds the file size {size}")
    text = read_at(8, length)
    if len(text) != length:
        raise _bad(label, "truncated while reading its header")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise _bad(label, f"the header repeats the key {exc.args[0]!r} (the format forbids duplicate keys)") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, over-long integers, deep nesting
        raise _bad(label, "the header is not JSON") from None
    if not isinstance(header, dict):
        raise _bad(label, "the header is not a JSON object")
    return header, 8 + length


def safetensors_tensors(path: Path) -> list[TensorRef]:
    """The tensors of a safetensors file, in file order, each read lazily by offset."""
    path = Path(path)
    header, start, size = read_header(path)
    return header_tensors(str(path), header, start, size, lambda offset, dtype: _reader(path, offset, dtype))


def header_tensors(
    label: str, header: dict, start: int, size: int, reader: Callable[[int, np.dtype], Callable[[int, int], np.ndarray]]
) -> list[TensorRef]:
    """The tensors a parsed header describes, checked against the file ``size``, in file order;
    ``reader(offset, dtype)`` gives the ``read(first, count)`` of the tensor whose data starts at byte ``offset``."""
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = DTYPES[info["dtype"]]
            shape = check_shape(_integers(info["shape"]))
            begin, end = _integers(info["data_offsets"])
        except (KeyError, TypeError):
            raise _bad(label, f"tensor {name!r} has a malformed or unsupported entry {str(info)[:200]}") from None
        except ValueError as exc:
            raise _bad(label, f"tensor {name!r}: {exc}") from None
        count = math.prod(shape)  # exact: an absurd shape cannot wrap around to match the offsets
        if min(shape, default=0) < 0 or end - begin != count * dtype.itemsize or begin < 0:
            raise _bad(label, f"tensor {name!r}: data_offsets {begin}..{end} do not match shape {list(shape)}")
        if start + end > size:
            raise _bad(label, f"truncated: tensor {name!r} ends at byte {start + end} of {size}")
        out.append(TensorRef(name, shape, dtype, reader(start + begin, dtype)))
    out.sort(key=lambda t: header[t.name]["data_offsets"][0])
    previous_end, previous = 0, None
    for tensor in out:
        begin, end = header[tensor.name]["data_offsets"]
        if begin < previous_end:
            raise _bad(label, f"tensors {previous!r} and {tensor.name!r} overlap (bytes {begin}..{previous_end})")
        previous_end, previous = max(previous_end, end), tensor.name
    return out


def _integers(values: object) -> tuple[int, ...]:
    """JSON integers only (no floats, booleans or strings), as the format specifies."""
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise TypeError("expected a list of integers")
    return tuple(values)


def _reader(path: Path, offset: int, dtype: np.dtype):
    def read(first: int, count: int) -> np.ndarray:
        nbytes = count * dtype.itemsize
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, nbytes, offset + first * dtype.itemsize)
        finally:
            os.close(fd)
        if len(data) != nbytes:
            raise _bad(path, "truncated while reading")
        return np.frombuffer(data, dtype=dtype)

    return read
