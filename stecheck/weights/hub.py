"""Hugging Face Hub models (``hf:ORG/NAME[@REVISION]``) through huggingface_hub, an optional extra.

Only safetensors files (and their index) are fetched. ``HF_HUB_OFFLINE=1`` and the local cache are
honoured by huggingface_hub itself; a model that is neither cached nor reachable is a one-line error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stecheck.errors import StecheckError

__all__ = ["parse_repo", "snapshot"]

_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def parse_repo(text: str) -> tuple[str, str | None]:
    """``ORG/NAME[@REVISION]`` -> ``(repo_id, revision)``."""
    repo, _, revision = text.partition("@")
    if not _REPO.match(repo):
        raise StecheckError(f"hf:{text} is not a Hub model id: expected hf:ORG/NAME or hf:ORG/NAME@REVISION")
    return repo, revision or None


def snapshot(text: str) -> tuple[Path, dict[str, Any]]:
    """Download (or find in the cache) the safetensors files of a Hub model; ``(directory, provenance)``."""
    repo, revision = parse_repo(text)
    try:
        import huggingface_hub
        from huggingface_hub import constants
    except ImportError:
        raise StecheckError("hf: sources need huggingface_hub: pip install 'stecheck[hub]'") from None
    try:
        path = huggingface_hub.snapshot_download(
            repo_id=repo, revision=revision, allow_patterns=["*.safetensors", "*.safetensors.index.json"]
        )
    except Exception as exc:  # offline, unknown repo, gated model, network errors
        offline = "offline" if constants.HF_HUB_OFFLINE else "online"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StecheckError(
            f"cannot get hf:{text} from the Hub or the local cache ({offline}; {type(exc).__name__}: {reason})"
        ) from None
    return Path(path), {"hub_repo": repo, "hub_revision": revision, "huggingface_hub": huggingface_hub.__version__}
