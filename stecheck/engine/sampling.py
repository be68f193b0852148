"""Seeded sources of inputs r, chunk by chunk.

Each chunk's random stream is ``SeedSequence(seed, spawn_key=(input key, chunk, purpose[, k]))`` with a
PCG64 bit generator, so a result depends only on the seed, the input spec and the sample count -- not on
thread count, chunk scheduling or machine. All bit widths of a grid-independent input share the same
draws (common random numbers across k).

Uniform and normal inputs are drawn by compiled code (:mod:`stecheck.core.pcg64`, the same numbers as
numpy's ``uniform`` and ``normal`` on the same stream), into per-thread buffers that are reused from chunk
to chunk (:func:`chunk_buffer`); :func:`fused_draw` says which inputs qualify.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stecheck.core import pcg64
from stecheck.core.distributions import InputSpec
from stecheck.core.quantize import dorefa_weight_transform

__all__ = [
    "CHUNK_SIZE", "DRAW", "NOISE", "ChunkPlan", "FusedDraw", "chunk_buffer", "chunk_plan", "chunk_rng", "chunk_words",
    "draw_chunk", "fused_draw",
]

#: Samples per chunk. Part of the result's identity (it fixes the streams), recorded in meta.
CHUNK_SIZE: Final = 1 << 18
#: Stream purposes.
DRAW: Final = 0
NOISE: Final = 1


@dataclass(frozen=True)
class ChunkPlan:
    """How ``samples`` are split: ``count`` chunks of ``size`` (the last one possibly shorter)."""

    samples: int
    size: int

    @property
    def count(self) -> int:
        return -(-self.samples // self.size)

    def length(self, index: int) -> int:
        return min(self.size, self.samples - index * self.size)


def chunk_plan(inp: InputSpec, samples: int, chunk_size: int = CHUNK_SIZE) -> ChunkPlan:
    """Chunks for ``samples`` draws; DoReFa inputs use whole tensors, so samples round up to them."""
    if inp.path == "dorefa":
        assert inp.tensor_size is not None
        m = inp.tensor_size
        samples = -(-samples // m) * m
        chunk_size = max(1, chunk_size // m) * m
    return ChunkPlan(samples, chunk_size)


def chunk_rng(seed: int, inp: InputSpec, chunk: int, purpose: int, k: int | None = None) -> np.random.Generator:
    """The generator of one chunk's stream (see the module docstring)."""
    key = (inp.stream_key, chunk, purpose) if k is None else (inp.stream_key, chunk, purpose, k)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def draw_chunk(seed: int, inp: InputSpec, chunk: int, length: int, k: int) -> NDArray[np.float64]:
    """Draw one chunk at bit width ``k``: the variable ``x`` that derivatives are taken in.

    ``x = r`` for plain inputs; for ``clip`` x is the pre-clip activation (the kernel applies
    r = clip(x, 0, 1)); for ``dorefa`` x = r is the transformed weight, tensor by tensor.
    """
    dist = inp.dist.at_bits(k)
    rng = chunk_rng(seed, inp, chunk, DRAW, k if inp.dist.depends_on_bits else None)
    x = dist.draw(rng, length)
    if inp.path == "dorefa":
        assert inp.tensor_size is not None
        x = dorefa_weight_transform(x.reshape(-1, inp.tensor_size), axis=-1).ravel()
    return x


#: ``(state words, kind, loc, spread)``: a chunk's draws ``loc + spread * base`` for the compiled code
#: (:func:`stecheck.core.fastscan.draw_scan`, :func:`stecheck.core.pcg64.fill`); ``kind`` names the base stream.
FusedDraw = tuple[NDArray[np.uint64], int, float, float]

_KINDS: Final = {"random": pcg64.UNIFORM, "standard_normal": pcg64.NORMAL}


def chunk_words(seed: int, inp: InputSpec, chunk: int, purpose: int, k: int | None = None) -> NDArray[np.uint64]:
    """The PCG64 state words of the stream :func:`chunk_rng` returns (for the compiled draws)."""
    key = (inp.stream_key, chunk, purpose) if k is None else (inp.stream_key, chunk, purpose, k)
    return pcg64.seeded(np.random.SeedSequence(seed, spawn_key=key))


def fused_draw(seed: int, inp: InputSpec, chunk: int, k: int) -> FusedDraw | None:
    """How compiled code draws chunk ``chunk`` at bit width ``k`` -- the numbers :func:`draw_chunk` returns --
    or None when the input is not an affine image of numpy's ``random()`` or ``standard_normal()`` (or takes the
    DoReFa path, whose transform works tensor by tensor)."""
    if inp.path == "dorefa":
        return None
    affine = getattr(inp.dist.at_bits(k), "affine", None)
    if affine is None:
        return None
    base, loc, spread = affine
    words = chunk_words(seed, inp, chunk, DRAW, k if inp.dist.depends_on_bits else None)
    return words, _KINDS[base], float(loc), float(spread)


_LOCAL = threading.local()


def chunk_buffer(name: str, length: int) -> NDArray[np.float64]:
    """This thread's reusable float64 buffer ``name``, ``length`` long (its contents are arbitrary).

    A chunk's draws go into one instead of a fresh array: no allocation and no page faults per chunk. The
    buffer is overwritten by the thread's next chunk, so nothing may keep a reference to it.
    """
    buffers = getattr(_LOCAL, "buffers", None)
    if buffers is None:
        buffers = _LOCAL.buffers = {}
    buf = buffers.get(name)
    if buf is None or buf.size < length:
        buf = buffers[name] = np.empty(max(length, CHUNK_SIZE))
    return buf[:length]
