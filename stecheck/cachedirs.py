"""Per-user cache folders: nothing is ever written inside the installed package.

The cache root is ``$STECHECK_CACHE`` when set, else the platform's user cache folder for stecheck
(``platformdirs.user_cache_dir("stecheck")``: ``$XDG_CACHE_HOME/stecheck`` or ``~/.cache/stecheck`` on
Linux). Under it, ``numba/`` holds numba's compiled functions (``@njit(cache=True)``) and ``zoo/`` the
model files of ``stecheck weights zoo:NAME``. ``$NUMBA_CACHE_DIR`` still wins for numba when set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["cache_root", "numba_cache_dir", "zoo_cache_dir", "configure_numba_cache"]


def cache_root() -> Path:
    """``$STECHECK_CACHE``, else ``platformdirs.user_cache_dir("stecheck")``."""
    if os.environ.get("STECHECK_CACHE"):
        return Path(os.environ["STECHECK_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("stecheck", appauthor=False))


def numba_cache_dir() -> Path:
    """Where numba writes its index and compiled files: ``$NUMBA_CACHE_DIR`` or ``cache_root()/numba``."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    return cache_root() / "numba"


def zoo_cache_dir() -> Path:
    """Where the zoo keeps its verified model files: ``cache_root()/zoo``."""
    return cache_root() / "zoo"


def configure_numba_cache() -> None:
    """Point numba's cache at :func:`numba_cache_dir` before any ``@njit(cache=True)`` function is defined.

    Sets ``NUMBA_CACHE_DIR`` for a numba not yet imported (numba reads it once, at import); when numba
    is already imported, sets its configuration directly unless the user chose a folder.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = str(numba_cache_dir())
    config = sys.modules.get("numba.core.config")
    if config is None:
        os.environ["NUMBA_CACHE_DIR"] = folder
    elif not getattr(config, "CACHE_DIR", ""):
        config.CACHE_DIR = folder
