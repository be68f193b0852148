"""Result directories that change all at once or not at all.

Every command that writes a set of result files (``simulate``, ``weights``, ``audit``, ``phase``, the
figures of ``plot``) goes through :func:`replace_set`:

1. the whole new set is written into ``PARENT/.NAME.stecheck-RANDOM/set/``, a temporary sibling of the
   target ``PARENT/NAME`` on the same file system;
2. entries of the old directory that the command does not own (a ``figures/`` folder beside the records,
   files of the user) are moved into the new set, after their names are recorded in ``carried.json``;
3. the new directory takes the target's place in one step: ``renameat2(RENAME_EXCHANGE)`` where the
   system has it, else ``rename(target -> box/old)`` then ``rename(box/set -> target)``;
4. the temporary box, now holding the previous set, is removed.

Until step 3 the target is the previous set, untouched except for the carried entries; a failure (full
disk, a signal, an error) removes the box and moves the carried entries back. A process killed outright
(SIGKILL, power loss) in steps 2-4 leaves the box behind; the next run that claims the same target
(:func:`claim`, under the ``--out`` lock) finishes or undoes it with :func:`recover`: the previous set is
put back if the target is missing, carried entries go back to the target, and the box is removed.

Single-file outputs (``check --out FILE``, ``report --out FILE``) are replaced by one atomic rename
(:func:`stecheck.records.write_text_atomic`) under the same lock.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Collection, Final, Iterator, TypeVar

from stecheck.errors import OutputError
from stecheck.safety import out_dir_lock, raise_if_interrupted, signals_deferred

__all__ = ["BOX_INFIX", "COMMITTED", "target_path", "claim", "recover", "replace_set", "boxes"]

T = TypeVar("T")

#: Temporary boxes are named ``.NAME`` + this + a random suffix, beside the target ``NAME``.
BOX_INFIX: Final = ".stecheck-"
_SET: Final = "set"
_OLD: Final = "old"
_CARRIED: Final = "carried.json"
#: Result directories swapped in by this process (a command interrupted later names them).
COMMITTED: list[Path] = []


def target_path(path: Path, *, directory: bool = True) -> Path:
    """``path`` made absolute (symbolic links resolved), checked to be a place a result can replace.

    Raises
    ------
    OutputError
        When ``path`` is the current directory or one of its parents (replacing it would move the
        working directory away), exists but is not a directory (a file, for a single-file output), or
        its parent cannot be created.
    """
    given = str(path)
    resolved = Path(os.path.realpath(os.path.abspath(path)))
    cwd = Path(os.path.realpath(os.getcwd()))
    if directory and (resolved == cwd or resolved in cwd.parents):
        raise OutputError(
            f"--out {given!r} is the current directory or one of its parents: stecheck replaces the whole output "
            f"directory, so name a directory of its own (e.g. results/run)"
        )
    if resolved.exists() and resolved.is_dir() != directory:
        raise OutputError(f"cannot write to {'output directory' if directory else 'file'} {given!r}: "
                          f"{'Not a directory' if directory else 'it is a directory, give a file name'}")
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write to output directory {given!r}: Not a directory (a file is in the way)") from None
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {given!r}: {exc.strerror or exc}") from None
    if not os.access(resolved.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to output directory {given!r}: Permission denied")
    return resolved


def boxes(target: Path) -> list[Path]:
    """Temporary boxes of ``target`` left by earlier runs (or in use by the run holding its lock)."""
    prefix = f".{target.name}{BOX_INFIX}"
    try:
        return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _carried_names(box: Path) -> list[str]:
    try:
        names = json.loads((box / _CARRIED).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    return [n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")] if isinstance(names, list) else []


def _move_back(box: Path, target: Path) -> None:
    """Carried entries still in ``box/set`` go back into ``target`` (where no entry of that name is)."""
    new = box / _SET
    if not (new.is_dir() and target.is_dir()):
        return
    for name in _carried_names(box):
        if os.path.lexists(new / name) and not os.path.lexists(target / name):
            os.replace(new / name, target / name)


def _undo(box: Path, target: Path) -> None:
    """Put the previous set back if the target is missing, return carried entries, remove ``box``."""
    old = box / _OLD
    if old.is_dir() and not os.path.lexists(target):
        os.replace(old, target)
    _move_back(box, target)
    shutil.rmtree(box, ignore_errors=True)


def recover(target: Path) -> None:
    """Finish or undo a replacement that a killed run left half done (the caller holds the lock).

    The previous set comes back if the target is missing (killed between the two renames), carried
    entries return to the target, and every box is removed.
    """
    for box in boxes(target):
        _undo(box, target)


@contextmanager
def claim(target: Path) -> Iterator[Path]:
    """Hold the ``--out`` lock of ``target`` (already checked by :func:`target_path`) and recover it first."""
    with out_dir_lock(target):
        try:
            recover(target)
        except OSError as exc:
            raise OutputError(f"cannot recover {str(target)!r} from an interrupted run: {exc.strerror or exc}") from None
        yield target


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with ``renameat2(RENAME_EXCHANGE)``; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(box: Path, target: Path) -> None:
    """Put ``box/set`` at ``target``; the previous target, if any, ends inside ``box``."""
    new = box / _SET
    if not os.path.lexists(target):
        os.replace(new, target)
    elif not _exchange(new, target):
        os.replace(target, box / _OLD)
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(box / _OLD, target)
            raise


def _owned(owned: Collection[str] | Callable[[str], bool]) -> Callable[[str], bool]:
    return owned if callable(owned) else (lambda name: name in owned)  # type: ignore[operator]


def replace_set(target: Path, write: Callable[[Path], T], owned: Collection[str] | Callable[[str], bool]) -> T:
    """Replace the result directory ``target`` by what ``write(directory)`` writes, all at once.

    Parameters
    ----------
    target
        The result directory (from :func:`target_path`; the caller holds its lock, :func:`claim`).
    write
        Writes the complete new set into the empty directory it is given; its return value is returned.
    owned
        Names (or a predicate on names) of the entries of ``target`` that belong to this command's set:
        they are replaced. Every other entry of the old directory is carried into the new one.

    Raises
    ------
    OutputError
        When the set cannot be written or swapped in (e.g. a full disk); ``target`` is then as it was.
    """
    target = Path(target)
    is_owned = _owned(owned)
    try:
        box = Path(tempfile.mkdtemp(prefix=f".{target.name}{BOX_INFIX}", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"cannot write results to {str(target)!r}: {exc.strerror or exc}") from None
    done = False
    try:
        new = box / _SET
        new.mkdir()
        value = write(new)
        raise_if_interrupted()  # a signal whose exception a library swallowed while the set was written
        with signals_deferred():  # the swap and the clean-up run to their end; a signal is delivered after
            carried = []
            if target.is_dir():
                carried = [e.name for e in os.scandir(target) if not is_owned(e.name) and not os.path.lexists(new / e.name)]
            if carried:
                (box / _CARRIED).write_text(json.dumps(carried), encoding="utf-8")
                for name in carried:
                    os.replace(target / name, new / name)
            _swap(box, target)
            done = True
            COMMITTED.append(target)
            shutil.rmtree(box, ignore_errors=True)
        return value
    except OSError as exc:
        raise OutputError(f"cannot write results to {str(target)!r}: {exc.strerror or exc}; the previous results are kept") from None
    finally:
        if not done:
            with signals_deferred():
                try:
                    _undo(box, target)
                except OSError:
                    pass  # the box stays, with whatever could not be put back: the next run's recover() does it
