"""Seeded sources of inputs r, chunk by chunk.

Each chunk's random stream is ``SeedSequence(seed, spawn_key=(input key, chunk, purpose[, k]))`` with a
PCG64 bit generator, so a result depends only on the seed, the input spec and the sample count -- not on
thread count, chunk scheduling or machine. All bit widths of a grid-independent input share the same
draws (common random numbers across k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stecheck.core.distributions import InputSpec
from stecheck.core.quantize import dorefa_weight_transform

__all__ = ["CHUNK_SIZE", "DRAW", "NOISE", "ChunkPlan", "chunk_plan", "chunk_rng", "draw_chunk"]

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
