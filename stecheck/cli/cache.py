"""``stecheck cache list|clear``: the per-user cache (zoo models, numba's compiled functions)."""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from stecheck.cachedirs import numba_cache_dir, zoo_cache_dir
from stecheck.cli.support import VersionFlag, stdout_console
from stecheck.errors import OutputError

__all__ = ["CacheAction", "cache_command", "cache_parts"]


class CacheAction(str, Enum):
    """What ``stecheck cache`` does."""

    list = "list"
    clear = "clear"


def _size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path`` (0, 0 when it does not exist)."""
    if path.is_file():
        return 1, path.stat().st_size
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def cache_parts() -> dict[str, Path]:
    """The cache folders by purpose."""
    return {"zoo models": zoo_cache_dir(), "numba compiled functions": numba_cache_dir()}


def cache_command(
    action: Annotated[CacheAction, typer.Argument(metavar="ACTION", help="list (folders, files, sizes) or clear (delete them).")] = CacheAction.list,
    version: VersionFlag = False,
) -> None:
    """Show or empty the per-user cache: the zoo's model files and numba's compiled functions.

    The folders are set by STECHECK_CACHE (default: the platform's user cache folder) and NUMBA_CACHE_DIR.
    """
    console = stdout_console()
    for purpose, folder in cache_parts().items():
        files, size = _size(folder)
        if action is CacheAction.list:
            console.print(f"{purpose}: {folder} ({files} files, {size / 1e6:.1f} MB)", soft_wrap=True, markup=False)
            continue
        if folder.exists():
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise OutputError(f"cannot clear {str(folder)!r}: {exc.strerror or exc}") from None
        console.print(f"cleared {purpose}: {folder} ({files} files, {size / 1e6:.1f} MB)", soft_wrap=True, markup=False)
