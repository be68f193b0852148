"""Safe output directories: one writer at a time, and signals that cannot leave half-written results.

- :func:`out_dir_lock` takes an exclusive ``flock(2)`` on ``PARENT/.NAME.stecheck.lock`` (beside the
  output ``PARENT/NAME``, which is replaced as a whole, see :mod:`stecheck.resultset`) for the whole run,
  so a second run writing the same ``--out`` fails at once instead of interleaving files with the first.
- :func:`interruptible` turns SIGTERM into :class:`KeyboardInterrupt` (as Ctrl-C already is), so the
  ``finally`` clauses of the writers run and no temporary file is left behind; :func:`interrupt_exit_code`
  then gives the shell's code for the signal that stopped the run (130 for SIGINT, 143 for SIGTERM).
- :func:`signals_deferred` holds back SIGINT and SIGTERM while a set of result files is replaced, so a
  run either leaves the previous files or the complete new set, never a mix; a signal that arrived
  meanwhile is raised again as soon as the block ends.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Final, Iterator

from stecheck.errors import OutputError

__all__ = [
    "LOCK_SUFFIX",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "lock_path",
    "out_dir_lock",
    "interruptible",
    "interrupt_exit_code",
    "is_interrupt",
    "signals_deferred",
    "raise_if_interrupted",
]

#: The lock of output ``NAME`` is the file ``.NAME`` + this beside it (removed when the run ends).
LOCK_SUFFIX: Final = ".stecheck.lock"
#: Exit code of a run stopped by SIGINT (128 + 2, the shell convention for Ctrl-C).
EXIT_INTERRUPTED: Final = 128 + signal.SIGINT
#: Exit code of a run stopped by SIGTERM (128 + 15).
EXIT_TERMINATED: Final = 128 + signal.SIGTERM

_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def _holder(path: Path, patience_s: float = 1.0) -> str:
    """`` (pid N)`` of the run holding the lock file ``path``, or "" when it cannot be read.

    The holder writes its pid just after taking the lock: an empty file is read again for up to
    ``patience_s`` seconds.
    """
    import time

    deadline = time.monotonic() + patience_s
    while True:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
        if text or time.monotonic() >= deadline:
            return f" (pid {text})" if text.isdigit() else ""
        time.sleep(0.02)


def lock_path(out: Path) -> Path:
    """The lock file of the output ``out`` (a directory or a file): ``.NAME.stecheck.lock`` beside it."""
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}{LOCK_SUFFIX}"


@contextmanager
def out_dir_lock(out_dir: Path) -> Iterator[Path]:
    """Hold an exclusive lock on the output ``out_dir`` (whose parent must exist) for the block.

    The lock is ``flock(LOCK_EX | LOCK_NB)`` on :func:`lock_path` (outside ``out_dir``, which a run
    replaces as a whole, so the lock stays with the name, not with one version of the directory); the file is unlinked while
    still locked on exit, and a run that locked a file unlinked meanwhile retries on the new one, so the
    lock file never outlives the run and two runs never both hold it.

    Raises
    ------
    OutputError
        When another process holds the lock (or the lock file cannot be created).
    """
    path = lock_path(out_dir)
    deferred = signals_deferred()  # no signal between creating the lock file and the clean-up that removes it
    deferred.__enter__()
    try:
        fd = _acquire(path, out_dir)
    except BaseException:
        deferred.__exit__(None, None, None)
        raise
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        deferred.__exit__(None, None, None)  # a signal that arrived meanwhile is raised here, inside the clean-up
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


def _acquire(path: Path, out_dir: Path) -> int:
    """Open and ``flock`` the lock file ``path``; the descriptor of the file that is still at ``path``."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create lock file {str(path)!r}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise OutputError(
                    f"another stecheck run is writing to {str(out_dir)!r}{_holder(path)}; wait for it to finish "
                    f"or choose another --out"
                ) from None
            raise OutputError(f"cannot lock {str(path)!r}: {exc.strerror or exc}") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed this file after we opened it: lock the new one


#: The signal that last interrupted a run (read by :func:`interrupt_exit_code`).
_last_signal: list[int] = [signal.SIGINT]
#: Whether a signal was taken since the current :func:`interruptible` block began.
_signal_taken: list[bool] = [False]
#: How many :func:`interruptible` blocks the main thread is in (a signal is ours to re-raise only inside one).
_blocks: list[int] = [0]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    _last_signal[0] = signum
    _signal_taken[0] = True
    raise KeyboardInterrupt(signal.Signals(signum).name)


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` ends the run because of SIGINT or SIGTERM.

    True for :class:`KeyboardInterrupt`, and for any exception raised after a signal was taken inside
    the current :func:`interruptible` block: the :class:`KeyboardInterrupt` can surface as another
    exception, e.g. ``ImportError: initialization failed`` when the signal lands while a C extension
    (matplotlib's Agg backend) is being initialised, or an error raised by a ``finally`` clause
    that ran during the unwinding.
    """
    return isinstance(exc, KeyboardInterrupt) or _signal_taken[0]


def raise_if_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if a signal was taken inside the current :func:`interruptible` block
    although no exception reached the caller: a library caught it, e.g. an optional import whose C extension
    was being initialised when the signal landed (``ImportError: initialization failed``, caught as "not
    installed"). Called before results are swapped in and when a command returns; outside an
    :func:`interruptible` block (the Python API) it does nothing."""
    if _blocks[0] and _signal_taken[0] and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt(signal.Signals(_last_signal[0]).name)


class _QuietAfterSignal:
    """A :data:`sys.unraisablehook` that drops what is reported once a signal was taken, else passes it on.

    A :class:`KeyboardInterrupt` raised in the middle of a library's work (a JIT compiler building a
    module, a C extension being initialised) can leave objects whose ``__del__`` then fails while the
    run unwinds; Python reports each as "Exception ignored in: ..." on stderr, after the run's one
    error line. Those reports describe the interruption, not a defect of the run, so they are dropped.
    """

    def __init__(self, previous: object) -> None:
        self.previous = previous

    def __call__(self, unraisable: object) -> None:
        if not _signal_taken[0]:
            self.previous(unraisable)  # type: ignore[operator]


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`KeyboardInterrupt` (main thread only).

    The signal is remembered, so :func:`interrupt_exit_code` can tell Ctrl-C (130) from SIGTERM (143).
    Once a signal was taken, exceptions Python would report as "Exception ignored in: ..." (a
    finaliser failing on an object the interruption left half-built) are not written to stderr: the
    run's one error line stays the only one. The quiet hook outlives an interrupted block, since such
    objects are often freed only when the traceback is, after the block has ended.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _last_signal[0] = signal.SIGINT
    _signal_taken[0] = False
    previous = {signum: signal.signal(signum, _raise_interrupt) for signum in _SIGNALS}
    previous_hook = sys.unraisablehook
    if not isinstance(previous_hook, _QuietAfterSignal):
        sys.unraisablehook = _QuietAfterSignal(previous_hook)
    _blocks[0] += 1
    try:
        yield
    finally:
        _blocks[0] -= 1
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if not _signal_taken[0]:
            sys.unraisablehook = previous_hook


def interrupt_exit_code() -> int:
    """128 + the number of the signal that raised the last :class:`KeyboardInterrupt` (130 or 143)."""
    return 128 + int(_last_signal[0])


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back SIGINT and SIGTERM for the block; one that arrived meanwhile is raised again at its end.

    The handlers are swapped for a recorder rather than the signals masked, since a process-directed
    signal may be taken by any thread while Python runs every handler in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])
