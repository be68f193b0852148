"""Groups of a tensor that share a scale: per tensor, per channel (along an axis) or in groups of N."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stecheck.errors import SpecError

__all__ = ["group_reduce"]


def group_reduce(
    x: NDArray[np.float64], axis: int | None, group: int | None, ragged: bool, ufunc: np.ufunc, spec: str
) -> NDArray[np.float64]:
    """``ufunc.reduce`` over every group, broadcast back to the shape of ``x``.

    Parameters
    ----------
    x : ndarray
        The tensor.
    axis : int or None
        Elements along this axis share a scale (``-1``: one scale per row of a matrix, i.e. per output
        channel of an ``[out, in]`` weight); None flattens the tensor first (per tensor).
    group : int or None
        Split the axis into consecutive groups of this many elements (None: the whole axis).
    ragged : bool
        Allow a last group shorter than ``group`` when the axis length is not a multiple of it;
        otherwise that is an error.
    ufunc : numpy ufunc
        ``np.maximum`` or ``np.minimum``.
    spec : str
        The quantizer's spec, for error messages.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    if axis is None:
        moved = x.reshape(1, -1)
    else:
        if not -x.ndim <= axis < x.ndim:
            raise SpecError(f"{spec}: axis {axis} does not exist in a tensor of shape {tuple(x.shape)}")
        moved = np.moveaxis(x, axis, -1)
    length = moved.shape[-1]
    size = length if group is None else group
    if length % size and not ragged:
        raise SpecError(
            f"{spec}: the axis has {length} elements, not a multiple of group {size}; pass ragged=last to give "
            f"the last group {length % size} element(s)"
        )
    starts = np.arange(0, length, size)
    reduced = ufunc.reduceat(moved, starts, axis=-1)
    sizes = np.diff(np.append(starts, length))
    out = np.repeat(reduced, sizes, axis=-1)
    return out.reshape(x.shape) if axis is None else np.moveaxis(out, -1, axis)
