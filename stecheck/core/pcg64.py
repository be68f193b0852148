"""numpy's PCG64 stream inside compiled loops: ``random()`` and ``standard_normal()``, bit for bit.

The compiled scan draws its inputs itself instead of reading them from an array that numpy filled:
no pass over memory, and the generator's integer work overlaps the statistics' floating-point work. A
call through numpy's bit-generator function pointer (numba's ``np.random.Generator`` support) would
spill every live register per sample, so the generator is written out here:

- PCG64 (O'Neill 2014, XSL-RR 128/64 as in numpy's ``pcg64.h``): the 128-bit state steps by
  ``s <- s * M + inc (mod 2^128)``, then the output is ``rotr64(hi(s) ^ lo(s), hi(s) >> 58)``;
- ``random()`` is ``(next64 >> 11) * 2^-53`` (numpy's ``next_double``);
- ``standard_normal()`` is numpy's 256-layer ziggurat (``random_standard_normal`` in numpy's
  ``distributions.c``), with the layer tables numba ships for its own port of it.

The state is four ``uint64`` words ``(state hi, state lo, inc hi, inc lo)`` (:func:`state_words`), read
from and written back to a ``numpy.random.PCG64`` by :func:`load` and :func:`store`; tests/test_pcg64.py
checks both streams against numpy's, and that the bit generator continues where the compiled loop stopped.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from stecheck.cachedirs import configure_numba_cache

configure_numba_cache()  # before numba is imported: its cache goes to a per-user folder, not the package

from llvmlite import ir  # noqa: E402
from numba import njit, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402
from numba.np.random._constants import (  # noqa: E402
    fi_double,
    ki_double,
    wi_double,
    ziggurat_nor_inv_r,
    ziggurat_nor_r,
)

__all__ = ["fill", "load", "next_double", "next_uint64", "seeded", "standard_normal", "state_words", "store"]

_MASK64: Final = (1 << 64) - 1
#: PCG's default 128-bit multiplier (PCG_DEFAULT_MULTIPLIER_128), high and low words.
_MULT_HI: Final = np.uint64(0x2360ED051FC65DA4)
_MULT_LO: Final = np.uint64(0x4385DF649FCCF645)
_U0: Final = np.uint64(0)
_U1: Final = np.uint64(1)
_ROT: Final = np.uint64(58)
_SIXTY_THREE: Final = np.uint64(63)
_SIXTY_FOUR: Final = np.uint64(64)
_MANTISSA: Final = np.uint64(11)
_TWO_M53: Final = 1.0 / 9007199254740992.0
_LOW8: Final = np.uint64(0xFF)
_EIGHT: Final = np.uint64(8)
_RABS: Final = np.uint64(0x000FFFFFFFFFFFFF)
_KI: Final = np.asarray(ki_double, dtype=np.uint64)
_WI: Final = np.asarray(wi_double, dtype=np.float64)
_FI: Final = np.asarray(fi_double, dtype=np.float64)
_NOR_R: Final = float(ziggurat_nor_r)
_NOR_INV_R: Final = float(ziggurat_nor_inv_r)


@intrinsic
def _mul_wide(typingctx, a, b):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``(high, low)`` 64 bits of the 128-bit product of two ``uint64``: one ``mul`` gives both."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        low = builder.trunc(product, ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (high, low))

    return sig, codegen


@njit(inline="always")
def next_uint64(hi, lo, inc_hi, inc_lo):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One PCG64 step: ``(hi, lo, output)`` from the state ``(hi, lo)`` and increment ``(inc_hi, inc_lo)``."""
    top, bottom = _mul_wide(lo, _MULT_LO)
    low = bottom + inc_lo  # mod 2^64
    carry = _U1 if low < inc_lo else _U0
    high = hi * _MULT_LO + lo * _MULT_HI + top + inc_hi + carry
    word = high ^ low
    rot = high >> _ROT
    return high, low, (word >> rot) | (word << ((_SIXTY_FOUR - rot) & _SIXTY_THREE))


@njit(inline="always")
def next_double(hi, lo, inc_hi, inc_lo):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``(hi, lo, u)``: numpy's ``random()``, ``u = (next64 >> 11) 2^-53`` in [0, 1)."""
    hi, lo, word = next_uint64(hi, lo, inc_hi, inc_lo)
    return hi, lo, np.float64(word >> _MANTISSA) * _TWO_M53


@njit(nogil=True)
def _normal_tail(hi, lo, inc_hi, inc_lo, idx, rabs, x):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The ziggurat's rare branches (about 1% of draws): ``(hi, lo, z, done)``; not done -> draw again."""
    if idx == 0:
        while True:
            hi, lo, u = next_double(hi, lo, inc_hi, inc_lo)
            xx = -_NOR_INV_R * math.log1p(-u)
            hi, lo, u = next_double(hi, lo, inc_hi, inc_lo)
            yy = -math.log1p(-u)
            if yy + yy > xx * xx:
                if (rabs >> _EIGHT) & _U1:
                    return hi, lo, -(_NOR_R + xx), True
                return hi, lo, _NOR_R + xx, True
    hi, lo, u = next_double(hi, lo, inc_hi, inc_lo)
    if (_FI[idx - 1] - _FI[idx]) * u + _FI[idx] < math.exp(-0.5 * x * x):
        return hi, lo, x, True
    return hi, lo, 0.0, False


@njit(inline="always")
def standard_normal(hi, lo, inc_hi, inc_lo):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``(hi, lo, z)``: numpy's ``standard_normal()`` (ziggurat, 256 layers; see the module docstring)."""
    while True:
        hi, lo, r = next_uint64(hi, lo, inc_hi, inc_lo)
        idx = r & _LOW8
        r >>= _EIGHT
        rabs = (r >> _U1) & _RABS
        x = np.float64(rabs) * _WI[idx]
        if r & _U1:
            x = -x
        if rabs < _KI[idx]:
            return hi, lo, x
        hi, lo, z, done = _normal_tail(hi, lo, inc_hi, inc_lo, np.int64(idx), rabs, x)
        if done:
            return hi, lo, z


#: Distributions :func:`fill` draws: ``loc + spread * random()`` and ``loc + spread * standard_normal()``.
UNIFORM: Final = 1
NORMAL: Final = 2


@njit(nogil=True, cache=True)
def fill(words: NDArray[np.uint64], kind: int, loc: float, spread: float, out: NDArray[np.float64]) -> None:  # pragma: no cover
    """``out[i] = loc + spread * draw`` in stream order, the state ``words`` advanced in place."""
    hi, lo, inc_hi, inc_lo = words[0], words[1], words[2], words[3]
    for i in range(out.size):
        if kind == UNIFORM:
            hi, lo, v = next_double(hi, lo, inc_hi, inc_lo)
        else:
            hi, lo, v = standard_normal(hi, lo, inc_hi, inc_lo)
        out[i] = loc + spread * v
    words[0] = hi
    words[1] = lo


def state_words(state: int, inc: int) -> NDArray[np.uint64]:
    """The four ``uint64`` words ``(state hi, state lo, inc hi, inc lo)`` of 128-bit ``state`` and ``inc``."""
    return np.array([state >> 64, state & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)


_MASK128: Final = (1 << 128) - 1
_MULT: Final = (int(_MULT_HI) << 64) | int(_MULT_LO)


def seeded(seq: np.random.SeedSequence) -> NDArray[np.uint64]:
    """The state words of ``numpy.random.PCG64(seq)``, without building one (a chunk's cost, not a sample's).

    numpy seeds PCG64 with four words ``(s_hi, s_lo, i_hi, i_lo)`` of ``seq.generate_state(4, uint64)`` as
    PCG's ``srandom_r(initstate = s, initseq = i)``: ``inc = 2 i + 1``, ``state = 0``, step, ``state += s``, step.
    """
    s_hi, s_lo, i_hi, i_lo = (int(v) for v in seq.generate_state(4, np.uint64))
    inc = (((i_hi << 64) | i_lo) << 1 | 1) & _MASK128
    state = inc  # one step from 0
    state = (state + ((s_hi << 64) | s_lo)) & _MASK128
    state = (state * _MULT + inc) & _MASK128
    return state_words(state, inc)


def load(bitgen: np.random.PCG64) -> NDArray[np.uint64]:
    """The state words of a numpy PCG64 (its buffered 32-bit half, used by no double draw, is ignored)."""
    st = bitgen.state
    if st["bit_generator"] != "PCG64":
        raise TypeError(f"a PCG64 bit generator is required, not {st['bit_generator']}")
    return state_words(int(st["state"]["state"]), int(st["state"]["inc"]))


def store(bitgen: np.random.PCG64, words: NDArray[np.uint64]) -> None:
    """Write the state words back into ``bitgen`` (it then continues where the compiled draws stopped)."""
    st = bitgen.state
    st["state"]["state"] = (int(words[0]) << 64) | int(words[1])
    bitgen.state = st
