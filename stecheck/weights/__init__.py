"""Real weights: load tensors from weight files, the Hub or the built-in zoo, and scan their rounding error.

Public API
----------
open_source : a SOURCE string (path, ``hf:ORG/NAME[@REV]``, ``zoo:NAME``, a safetensors URL read through fsspec) -> :class:`Source`.
select, scan : choose tensors and compute the records (one per tensor, k, h, plus aggregate rows); ``scan(...,
    threads=N)`` scans batches of tensors on N threads, ``scan(..., mapper=cluster.map)`` on a Dask cluster, with
    the same records.
ROLES, left_out : the tensor roles (weight, bias, norm, buffer, quantized, other) and what a selection leaves out.
tensor_statistics : the exact statistics of one tensor for many k (pure numerics).
ZOO, fetch : the model zoo.
"""

from __future__ import annotations

from stecheck.weights.roles import ROLES
from stecheck.weights.scan import AGGREGATE, WEIGHTS_FIELDS, WEIGHTS_MD_COLUMNS, claim_holds, left_out, scan, select
from stecheck.weights.sources import Source, open_source
from stecheck.weights.stats import TRANSFORMS, tensor_statistics
from stecheck.weights.tensors import TensorRef
from stecheck.weights.zoo import ZOO, fetch

__all__ = [
    "AGGREGATE",
    "ROLES",
    "TRANSFORMS",
    "WEIGHTS_FIELDS",
    "WEIGHTS_MD_COLUMNS",
    "ZOO",
    "Source",
    "TensorRef",
    "claim_holds",
    "fetch",
    "left_out",
    "open_source",
    "scan",
    "select",
    "tensor_statistics",
]
