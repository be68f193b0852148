"""stecheck: checks, numerically, the claim that the derivative of a k-bit quantizer is 1 "in expectation".

Public API
----------
simulate : run a grid of inputs x bit widths and return records.
run, RunConfig : the engine and its configuration.
Cluster : a Dask cluster to run on (``simulate(..., cluster="local:2")``, ``run(config, cluster=...)``).
parse_input : distribution spec strings.
quantize, rounding_error : the quantizer.
StecheckError : the exception family for user errors.

The names are imported on first use (PEP 562), so ``import stecheck`` and ``stecheck --help`` stay fast.
The modules that compile with numba point its cache at a per-user folder (:mod:`stecheck.cachedirs`)
before importing numba: nothing is written inside the installed package.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "Cluster": "stecheck.engine.cluster",
    "RunConfig": "stecheck.config",
    "parse_input": "stecheck.core.distributions",
    "RunResult": "stecheck.engine.runner",
    "run": "stecheck.engine.runner",
    "simulate": "stecheck.engine.runner",
    "StecheckError": "stecheck.errors",
    "quantize": "stecheck.core.quantize",
    "rounding_error": "stecheck.core.quantize",
}

if TYPE_CHECKING:
    from stecheck.config import RunConfig
    from stecheck.engine.cluster import Cluster
    from stecheck.core.distributions import parse_input
    from stecheck.core.quantize import quantize, rounding_error
    from stecheck.engine.runner import RunResult, run, simulate
    from stecheck.errors import StecheckError


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'stecheck' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "__version__",
    "Cluster",
    "RunConfig",
    "RunResult",
    "StecheckError",
    "parse_input",
    "quantize",
    "rounding_error",
    "run",
    "simulate",
]
