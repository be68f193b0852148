"""PyTorch checkpoints (``.pt``, ``.pth``, ``.bin``) through ``torch.load(weights_only=True)``.

``weights_only=True`` restricts unpickling to tensors and plain containers, so a checkpoint cannot run
code; anything else is refused. torch is an optional extra (``pip install 'stecheck[torch]'``).
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import ml_dtypes
import numpy as np

from stecheck.errors import StecheckError
from stecheck.safe_io import require_regular
from stecheck.weights.tensors import TensorRef, array_reader

__all__ = ["torch_tensors"]


def _import_torch(path: Path) -> Any:
    try:
        import torch
    except ImportError:
        raise StecheckError(
            f"reading the PyTorch checkpoint {str(path)!r} needs torch: pip install 'stecheck[torch]' (in a checkout: pip install -e '.[torch]')"
        ) from None
    return torch


def _flatten(obj: Any, prefix: str, torch: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key), torch)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _flatten(value, f"{prefix}.{i}" if prefix else str(i), torch)


def _to_numpy(tensor: Any, torch: Any) -> np.ndarray:
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


_UNSUPPORTED = re.compile(r"Unsupported (?:global: GLOBAL [\w.]+|operand \d+|class [\w.]+)")


def _what_was_refused(exc: BaseException) -> str:
    """What the weights-only unpickler stopped at (``: Unsupported global: GLOBAL builtins.print``), and
    nothing of PyTorch's advice: it suggests ``weights_only=False``, which would run the file's code."""
    found = _UNSUPPORTED.search(str(exc))
    return f": {found.group(0).strip()[:200]}" if found else ""


def torch_tensors(path: Path) -> list[TensorRef]:
    """The tensors of a (possibly nested) state dict, with dotted names."""
    path = Path(path)
    torch = _import_torch(path)
    require_regular(path, "PyTorch checkpoint")
    try:
        if path.stat().st_size == 0:
            raise StecheckError(f"{str(path)!r} is not a PyTorch checkpoint: the file is empty")
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": the load below decides, not the warning
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except StecheckError:
        raise
    except pickle.UnpicklingError as exc:
        raise StecheckError(
            f"{str(path)!r} is not a weights-only PyTorch checkpoint (refusing to unpickle code{_what_was_refused(exc)})"
        ) from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... for corrupt files
        raise StecheckError(f"{str(path)!r} is not a valid PyTorch checkpoint: {type(exc).__name__}: {exc}") from None
    out = []
    for name, tensor in _flatten(obj, "", torch):
        try:
            array = _to_numpy(tensor, torch)
        except (TypeError, RuntimeError):  # complex, quantized or sparse tensors
            continue
        out.append(TensorRef(name, tuple(array.shape), array.dtype, array_reader(array)))
    return out
