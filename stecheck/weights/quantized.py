"""Exact statistics of a weight tensor under a quantizer of :mod:`stecheck.core.quantizers` (numpy path).

A tensor is a finite population, so every field is its exact value (THEORY.md, "Monte Carlo versus
exact"): with the tensor's own scales (per tensor, per channel, per group or block),
``n = (q(w) - clamp(w)) / u(w)`` in units of the local step; E[n], Var(n), P(n = 0) (the point masses where
a group's max lands on a level), the KS distance of n to Uniform[-1/2, 1/2] (exact: the values of n are
gathered and sorted, :func:`stecheck.weights.stats.ks_from_sorted`), ``|mean exp(2 pi i l n)|``, l = 1..8
(by powers of the phasor of :func:`stecheck.weights.stats.direct_fourier`, as the DoReFa scan);
``E[D_h]`` of the forward difference ``(q(w + h) - q(w)) / h`` with the scales held at the tensor's (as
STE implementations do in the backward pass); the mean STE value (0 where the quantizer clips); and the
SQNR ``10 log10(Var(w) / mean((q - w)^2))`` against the uniform-noise prediction
``10 log10(Var(w) / mean(u(w)^2 / 12))``, ``u`` the local step in w units (``s^2/12`` for an integer grid of
step ``s``; the per-binade relative-error model for a float format).

The tensor is read in blocks of whole groups (rows of the scaled axis, or groups of N): a pass first
takes its extent (min, max, non-finite count; the per-tensor scales of ``axis=none`` and NVFP4), then
each block is quantized. Non-finite values are left out of the population and of the scales. Each sum
is numpy's ``ndarray.sum`` of a block's finite values, added block by block; the compiled path for integer
grids (:mod:`stecheck.weights.quantfast`) forms the same sums in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from stecheck.core.estimators import ks_pvalue
from stecheck.core.exact import FOURIER_ORDERS
from stecheck.core.quantizers import Quantizer, code_error
from stecheck.errors import SpecError, StecheckError
from stecheck.weights.stats import direct_fourier, ks_from_sorted
from stecheck.weights.tensors import CHUNK_ELEMENTS, TensorRef

__all__ = ["MAX_GATHER", "MAX_UNIT", "QUANTIZER_NOTE", "QuantizedStatistics", "quantized_statistics", "array_statistics", "finish"]

#: What the records of a quantizer other than DoReFa mean (meta.json of ``weights --quantizer``).
QUANTIZER_NOTE: Final = (
    "n = (q(w) - clamp(w)) / u(w) in units of the local step u (0 where the quantizer clips); D_h = (q(w + h) - q(w)) / h "
    "with each tensor's data-dependent scales and zero points held fixed, as STE implementations do in the backward pass; "
    "STE = share of weights inside the representable range; p_n_zero = share of weights exactly on a level."
)

#: Largest tensor whose n is gathered for the exact KS statistic (256 MiB of float64).
MAX_GATHER: Final = 1 << 25
#: Most elements that must be read together for one scale (a row of a per-channel scale, a tensor read whole).
MAX_UNIT: Final = 1 << 24


@dataclass(frozen=True)
class QuantizedStatistics:
    """Population statistics of one tensor under one quantizer; the fields are None when degenerate."""

    count: int
    nonfinite: int
    degenerate: bool
    mean_n: float | None = None
    var_n: float | None = None
    p_n_zero: float | None = None
    ks_stat: float | None = None
    ks_pvalue: float | None = None
    fourier_abs: tuple[float, ...] | None = None
    mean_fd: tuple[float, ...] | None = None
    ste: float | None = None
    sqnr_db: float | None = None
    sqnr_uniform_db: float | None = None


def _blocks(tensor: TensorRef, q: Quantizer, raw: bool = False) -> tuple[Quantizer, Iterator[NDArray], bool]:
    """The quantizer to apply block by block, the blocks (shaped so its groups lie inside), and whether its
    groups run along the blocks' last axis (rows of a 2-D block, or a flat block): False when the tensor
    is read whole to be scaled along another axis.

    The blocks are float64, or with ``raw`` as read when float32 or float64 (the compiled path widens them itself).
    """
    shape = tensor.shape or (1,)
    size = tensor.size
    cast = _raw if raw else _float64
    if q.per_tensor or (len(shape) == 1 and q.group is None):
        q = replace(q, axis=None, group=None)
        return q, (cast(c).ravel() for c in tensor.raw_chunks()), True
    last = q.axis is not None and q.axis in (-1, len(shape) - 1)
    length = shape[-1] if last else size
    if q.axis is not None and not last and len(shape) > 1:
        if size > MAX_UNIT:
            raise StecheckError(f"tensor {tensor.name!r} has {size:,} elements: {q.spec} scales along axis {q.axis}, which reads "
                                f"a tensor whole, at most {MAX_UNIT:,} elements (memory); use axis=-1 or --exclude it")
        whole = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in tensor.raw_chunks()]) if size else np.zeros(0)
        return q, iter([whole.reshape(shape)]), False
    group = q.group if q.group is not None else length
    if length % group and not q.ragged:
        raise SpecError(f"tensor {tensor.name!r} of shape {list(tensor.shape)}: {q.spec}: the axis has {length} elements, not a "
                        f"multiple of group {group}; pass ragged=last to give the last group {length % group} element(s)")
    unit = group if length % group == 0 else length  # a ragged last group: whole rows
    if unit > MAX_UNIT:
        raise StecheckError(f"tensor {tensor.name!r}: {q.spec} needs {unit:,} elements together for one scale, more than "
                            f"{MAX_UNIT:,} (memory); use groups or --exclude it")
    per_block = max(1, CHUNK_ELEMENTS // unit) * unit
    # groups dividing the rows never straddle two: a block of whole groups is scaled as flat groups, the same
    # groups as along the rows; a ragged last group needs whole rows (a block of whole rows, as rows)
    rows = last and length % group != 0
    q_block = q if rows else replace(q, axis=None, group=group)

    def blocks() -> Iterator[NDArray]:
        for start in range(0, size, per_block):
            x = cast(tensor.read(start, min(per_block, size - start))).ravel()
            yield x.reshape(-1, length) if rows else x

    return q_block, blocks(), True


_KERNEL_TYPES: Final = (np.dtype(np.float32), np.dtype(np.float64))


def _float64(chunk: NDArray) -> NDArray[np.float64]:
    return np.asarray(chunk, dtype=np.float64)


def _raw(chunk: NDArray) -> NDArray:
    """A chunk as a contiguous float32/float64 array (other types widened to float64, as :func:`_float64`)."""
    chunk = np.asarray(chunk)
    if chunk.dtype in _KERNEL_TYPES:
        return np.ascontiguousarray(chunk)
    return np.asarray(chunk, dtype=np.float64)


def quantized_statistics(tensor: TensorRef, q: Quantizer, steps: Sequence[float], fast: bool = True) -> QuantizedStatistics:
    """The statistics of ``tensor`` under ``q`` for forward steps ``steps`` (see the module docstring).

    ``fast`` selects the compiled path (:mod:`stecheck.weights.quantfast`, equal to this one bit for bit): a
    kernel for integer grids scaled per tensor, per group or along the last axis, and for any other
    quantizer numpy's codes, casts and steps with compiled sums; False takes the numpy reference below.
    """
    if fast:
        from stecheck.weights.quantfast import compiled_extent, fast_statistics, given_statistics, serves

        lo, hi, count, nonfinite = compiled_extent(tensor)
        if tensor.size == 0:
            return QuantizedStatistics(0, 0, True)
        integer = serves(q)
        block_q, blocks, along = _blocks(tensor, q, raw=integer)  # raw blocks only where the kernel reads them
        if count == 0 or not hi > lo:
            return QuantizedStatistics(count, nonfinite, True)
        _check_gather(tensor, count)
        try:
            if integer and along:
                return fast_statistics(blocks, block_q, steps, (lo, hi), count, nonfinite)
            return given_statistics(blocks, block_q, steps, (lo, hi), count, nonfinite)
        except SpecError as exc:
            raise SpecError(f"tensor {tensor.name!r} of shape {list(tensor.shape)}: {exc}") from None
    lo, hi, count, nonfinite = math.inf, -math.inf, 0, 0
    for chunk in tensor.raw_chunks():
        with np.errstate(invalid="ignore"):
            values = np.asarray(chunk, dtype=np.float64)
        ok = np.isfinite(values)
        count += int(ok.sum())
        nonfinite += int(values.size - ok.sum())
        if ok.any():
            lo, hi = min(lo, float(values[ok].min())), max(hi, float(values[ok].max()))
    if tensor.size == 0:
        return QuantizedStatistics(0, 0, True)
    block_q, blocks, _ = _blocks(tensor, q)  # refuses a layout the tensor does not fit, degenerate or not
    if count == 0 or not hi > lo:
        return QuantizedStatistics(count, nonfinite, True)
    _check_gather(tensor, count)
    try:
        return _statistics(blocks, block_q, steps, (lo, hi), count, nonfinite)
    except SpecError as exc:
        raise SpecError(f"tensor {tensor.name!r} of shape {list(tensor.shape)}: {exc}") from None


def _check_gather(tensor: TensorRef, count: int) -> None:
    if count > MAX_GATHER:
        raise StecheckError(f"tensor {tensor.name!r} has {count:,} values: the exact KS statistic of a quantizer gathers n, at "
                            f"most {MAX_GATHER:,} values (memory); --exclude it")


def array_statistics(w: NDArray, q: Quantizer, steps: Sequence[float], fast: bool = True) -> QuantizedStatistics:
    """:func:`quantized_statistics` of an in-memory array."""
    from stecheck.weights.tensors import array_reader

    w = np.asarray(w)
    return quantized_statistics(TensorRef("array", tuple(w.shape), w.dtype, array_reader(w)), q, steps, fast)


def _statistics(blocks: Iterator[NDArray], q: Quantizer, steps: Sequence[float], extent: tuple[float, float],
                count: int, nonfinite: int) -> QuantizedStatistics:
    assert q.base is not None
    base = q.base
    s_n = s_n2 = s_w = s_w2 = s_e2 = s_u2 = 0.0
    zeros = ste = 0
    fourier = np.zeros(FOURIER_ORDERS, dtype=complex)
    fd = np.zeros(len(steps))
    gathered: list[NDArray] = []
    for x in blocks:
        # a scale far below a value (a subnormal group max, a fine stated step) sends its code to +-inf, which
        # the grid clips: an overflow by design
        with np.errstate(over="ignore"):
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(x)
            x0 = np.where(ok, x, 0.0)
            sc = q.scaling(x0, extent)
            y = sc.codes(x0)
            code = base.round(y)
            n = code_error(base, y)[ok]
            err = (sc.sigma * (code - sc.zero) - x0)[ok]
            u = np.broadcast_to(sc.sigma * base.local_step(np.clip(y, base.lo, base.hi)), x0.shape)[ok]
            s_n += float(n.sum())
            s_n2 += float((n * n).sum())
            zeros += int(np.count_nonzero(n == 0.0))
            fourier += direct_fourier(n, None)
            for i, h in enumerate(steps):
                moved = base.round(sc.codes(x0 + h))
                fd[i] += float((np.broadcast_to(sc.sigma * (moved - code), x0.shape)[ok]).sum()) / h
            ste += int(np.count_nonzero(((y >= base.lo) & (y <= base.hi))[ok]))
            xs = x0[ok]
            s_w += float(xs.sum())
            s_w2 += float((xs * xs).sum())
            s_e2 += float((err * err).sum())
            s_u2 += float((u * u).sum())
            gathered.append(n)
    ordered = np.sort(np.concatenate(gathered))
    d = ks_from_sorted(ordered, None, None, float(count))
    return finish(count, nonfinite, (s_n, s_n2, s_w, s_w2, s_e2, s_u2), zeros, ste, fourier, fd, d)


def finish(count: int, nonfinite: int, sums: Sequence[float], zeros: int, ste: int, fourier: NDArray[np.complex128],
           fd: NDArray[np.float64], d: float) -> QuantizedStatistics:
    """The statistics from the accumulated sums (shared by the numpy and compiled paths).

    ``sums`` is ``(sum n, sum n^2, sum w, sum w^2, sum (q - w)^2, sum u^2)``; ``zeros`` and ``ste`` count
    ``n = 0`` and the weights inside the range; ``fourier`` holds ``sum exp(2 pi i l n)``, ``fd`` the level
    changes over h, ``d`` the exact KS statistic.
    """
    s_n, s_n2, s_w, s_w2, s_e2, s_u2 = sums
    mean = s_n / count
    var_w = max(s_w2 / count - (s_w / count) ** 2, 0.0)
    noise = s_e2 / count
    return QuantizedStatistics(
        count=count, nonfinite=nonfinite, degenerate=False, mean_n=mean, var_n=max(s_n2 / count - mean * mean, 0.0),
        p_n_zero=zeros / count, ks_stat=d, ks_pvalue=ks_pvalue(d, count),
        fourier_abs=tuple(float(v) for v in np.abs(fourier) / count), mean_fd=tuple(float(v / count) for v in fd),
        ste=ste / count,
        sqnr_db=10 * math.log10(var_w / noise) if noise > 0 and var_w > 0 else math.inf,
        sqnr_uniform_db=10 * math.log10(var_w / (s_u2 / count / 12.0)) if var_w > 0 and s_u2 > 0 else math.inf,
    )
