"""stecheck: checks, numerically, the claim that the derivative of a k-bit quantizer is 1 "in expectation".

Public API
----------
simulate : run a grid of inputs x bit widths and return records.
run, RunConfig : the engine and its configuration.
parse_input : distribution spec strings.
quantize, rounding_error : the quantizer.
StecheckError : the exception family for user errors.
"""

from __future__ import annotations

__version__ = "0.1.0"

from stecheck.config import RunConfig
from stecheck.distributions import parse_input
from stecheck.engine import RunResult, run, simulate
from stecheck.errors import StecheckError
from stecheck.quantize import quantize, rounding_error

__all__ = [
    "__version__",
    "RunConfig",
    "RunResult",
    "StecheckError",
    "parse_input",
    "quantize",
    "rounding_error",
    "run",
    "simulate",
]
