"""A tensor of a weight file, read lazily in chunks of its own dtype.

Loaders (one module per format) describe each tensor by a :class:`TensorRef` whose ``read(start, count)``
returns a flat slice; nothing is read until a scan asks for it, so memory stays constant whatever the
file size. 8- and 16-bit tensors (float8, bfloat16, float16) have at most 256 or 65536 distinct values: one
pass counts their bit patterns, and the statistics run on the distinct values with their multiplicities --
the same population, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
import math
from typing import Callable, Final, Iterator, Sequence

import ml_dtypes
import numpy as np
from numpy.typing import NDArray

from stecheck.weights.stats import Chunk

__all__ = ["CHUNK_ELEMENTS", "MAX_ELEMENTS", "TensorRef", "check_shape", "is_floating", "dtype_name", "array_reader"]

#: Elements per chunk (2 MiB of float64 once transformed: the per-k work stays in cache).
CHUNK_ELEMENTS: Final = 1 << 18

_FLOAT8 = tuple(np.dtype(t) for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2))
#: Float types scanned as distinct values with multiplicities, and the unsigned type of their bit patterns.
_PATTERNED: Final = {
    np.dtype(ml_dtypes.bfloat16): np.dtype(np.uint16), np.dtype(np.float16): np.dtype(np.uint16),
    **{dtype: np.dtype(np.uint8) for dtype in _FLOAT8},
}


#: Largest dimension, and product of the non-zero dimensions, a shape may declare: numpy holds shapes
#: and strides as int64, so a larger one (``[0, 2**64]``) cannot even describe an empty array.
MAX_ELEMENTS: Final = (1 << 63) - 1


def check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """``shape`` as a tuple, or ValueError naming why numpy could not hold it."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {list(dims)} has a negative dimension")
    if math.prod(d for d in dims if d) > MAX_ELEMENTS:
        raise ValueError(f"shape {list(dims)[:8]} overflows 64-bit sizes (at most {MAX_ELEMENTS} per dimension and in all)")
    return dims


def is_floating(dtype: np.dtype) -> bool:
    """True for IEEE and ml_dtypes floating types (float8, bfloat16, float16, float32, float64)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype in _FLOAT8 or dtype == np.dtype(ml_dtypes.bfloat16)


@lru_cache(maxsize=64)
def dtype_name(dtype: np.dtype) -> str:
    """``float32``, ``bfloat16``, ``float8_e4m3fn``, ... (the numpy / ml_dtypes name; numpy forms it in Python,
    so each dtype's is kept)."""
    return np.dtype(dtype).name


@dataclass
class TensorRef:
    """One tensor: name, shape, dtype and a reader of flat slices ``read(start, count)``.

    ``role`` is one of :data:`stecheck.weights.roles.ROLES` (None until the source assigns it); ``stored`` names
    the file's storage type when it differs from ``dtype`` (``Q4_K`` for a GGUF tensor read dequantized).
    ``origin`` is ``(path, index)``: the absolute path the source was opened from and the tensor's index in
    it, so that a cluster worker can open the same file and read the tensor itself (None for a tensor built
    in memory).
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    read: Callable[[int, int], NDArray]
    role: str | None = None
    stored: str | None = None
    origin: tuple[str, int] | None = None
    _distinct: tuple[NDArray, NDArray] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def floating(self) -> bool:
        return is_floating(self.dtype)

    def raw_chunks(self, chunk: int = CHUNK_ELEMENTS) -> Iterator[NDArray]:
        """Flat slices of at most ``chunk`` elements, in order."""
        for start in range(0, self.size, chunk):
            yield self.read(start, min(chunk, self.size - start))

    def chunks(self, chunk: int = CHUNK_ELEMENTS) -> Iterator[Chunk]:
        """``(values, weights)`` chunks for :func:`stecheck.weights.stats.tensor_statistics`.

        8- and 16-bit float tensors come as one chunk of distinct values with their counts (computed once,
        cached).
        """
        if np.dtype(self.dtype) in _PATTERNED:
            yield self.distinct_values(chunk)
            return
        for values in self.raw_chunks(chunk):
            yield values, None

    def distinct_values(self, chunk: int = CHUNK_ELEMENTS) -> tuple[NDArray, NDArray]:
        """Distinct values and multiplicities of an 8- or 16-bit float tensor, from a count of its bit patterns
        (:func:`stecheck.core.weightscan.count_patterns`, compiled, without the GIL)."""
        if self._distinct is None:
            from stecheck.core.weightscan import count_patterns

            unsigned = _PATTERNED[np.dtype(self.dtype)]
            counts = np.zeros(1 << (8 * unsigned.itemsize), dtype=np.int64)
            for values in self.raw_chunks(chunk):
                count_patterns(np.ascontiguousarray(values).view(unsigned).ravel(), counts)
            patterns = np.flatnonzero(counts).astype(unsigned)
            self._distinct = (patterns.view(self.dtype), counts[patterns])
        return self._distinct


def array_reader(array: NDArray) -> Callable[[int, int], NDArray]:
    """``read(start, count)`` over an in-memory (or memory-mapped) array."""
    flat = array.reshape(-1)
    return lambda start, count: np.asarray(flat[start:start + count])
