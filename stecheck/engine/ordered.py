"""Chunks' accumulators merged in chunk order by the worker threads themselves, as they finish.

The threaded engine merges each chunk's accumulators into the running total in chunk order (the float sums
then do not depend on the thread count). :class:`OrderedFold` lets the worker that finishes the next chunk
in line merge it -- and any later chunks already waiting -- instead of a merging thread of its own: no third
thread competing for two cores and evicting the workers' tables from their caches, and a chunk's kept
histogram words are unpacked on the core that wrote them. A worker that finishes out of turn leaves its
chunk and goes on; whoever merges the chunk before it merges it next (one merger at a time).
"""

from __future__ import annotations

import threading
from typing import Generic, Hashable, TypeVar

from stecheck.core.estimators import CellAccumulator

__all__ = ["OrderedFold"]

K = TypeVar("K", bound=Hashable)


class OrderedFold(Generic[K]):
    """A running total of ``{key: CellAccumulator}`` parts, folded in index order 0, 1, 2, ... whatever the order
    in which :meth:`add` receives them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[int, dict[K, CellAccumulator]] = {}
        self._next = 0
        self._busy = False
        self._total: dict[K, CellAccumulator] | None = None

    def add(self, index: int, part: dict[K, CellAccumulator]) -> None:
        """Hand over part ``index``; merge it and every part after it that is ready, unless another thread is
        merging (it then merges this one in turn)."""
        with self._lock:
            self._ready[index] = part
            if self._busy:
                return
            self._busy = True
        try:
            while True:
                with self._lock:
                    nxt = self._ready.pop(self._next, None)
                    if nxt is None:
                        self._busy = False
                        return
                    self._next += 1
                self._merge(nxt)
        except BaseException:
            with self._lock:
                self._busy = False
            raise

    def _merge(self, part: dict[K, CellAccumulator]) -> None:
        if self._total is None:
            self._total = part
            return
        for key, acc in part.items():
            self._total[key].merge(acc)
            acc.release()

    def total(self, count: int) -> dict[K, CellAccumulator]:
        """The merged parts ``0 .. count - 1`` (all of them must have been added and merged)."""
        with self._lock:
            if self._next != count or self._ready or self._total is None:
                raise RuntimeError(f"{self._next} of {count} chunks merged")
            return self._total
