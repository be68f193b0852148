"""The cluster backend: pure tasks on a Dask cluster, their results handed back in submission order.

Every distributed computation of stecheck is a list of calls ``fn(*args)`` that depend only on their
arguments (a few chunks of one input, a tensor read from a file by path, a family's block of the phase
grid). :meth:`Cluster.map` submits them to a Dask scheduler (https://distributed.dask.org) and yields the
results in the order of the list; :meth:`Cluster.fold` and :meth:`Cluster.folds` also merge them, in that
order, by a chain of merge tasks on the workers. Either way the merges are the same floating-point
operations in the same order as in a local run with one thread, and the records are byte-identical. Dask
recomputes the tasks of a worker that dies; since a task is a pure function of its arguments, the
recomputed result is the same.

Addresses (``--cluster``):

- ``local`` or ``local:N``: a :class:`distributed.LocalCluster` started for the run, N worker processes of
  one thread each (default: the number of cores here), closed at the end;
- ``tcp://HOST:PORT`` (also ``tls://``, ``ucx://``, ``ws://``, ``wss://``): an existing scheduler, e.g. one
  started by ``dask scheduler`` or by dask-jobqueue on a Slurm/PBS cluster;
- ``env``: the address in the ``DASK_SCHEDULER_ADDRESS`` environment variable.

Dask is an optional dependency (``pip install 'stecheck[dask]'``), imported only when a cluster is opened.
stecheck itself starts no process and opens no socket: Dask does both.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Final, Iterable, Iterator, Mapping, Sequence, TypeVar

from stecheck.errors import ConfigError, StecheckError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ENV_ADDRESS",
    "MAP_AHEAD",
    "MAX_LOCAL_WORKERS",
    "TASKS_PER_WORKER",
    "Cluster",
    "ClusterAddress",
    "ClusterError",
    "parse_cluster",
]

T = TypeVar("T")

#: Seconds to wait for a scheduler (or a LocalCluster's workers) before giving up with one line.
CONNECT_TIMEOUT_S: Final = 10.0
#: Environment variable read by ``--cluster env`` (the name Dask's own configuration uses).
ENV_ADDRESS: Final = "DASK_SCHEDULER_ADDRESS"
#: Tasks submitted and not yet merged by :meth:`Cluster.fold`, per worker: one running and one waiting or on
#: its way back keep a worker busy, and bound the memory held (each result is a few chunks' accumulators).
TASKS_PER_WORKER: Final = 2
#: Tasks submitted and not yet handed out by :meth:`Cluster.map`, per worker: at least half of them are
#: waiting or running whenever the client tops them up, so a worker never waits for the client, and the
#: memory held is bounded (each result is a few chunks' tables or a few tensors' statistics).
MAP_AHEAD: Final = 4
#: Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns glibc's dynamic mmap
#: threshold off: every buffer above 128 KiB (a chunk read, a chunk's draws) is then a fresh ``mmap`` whose
#: page faults made the bfloat16 scan 3.5x slower per worker here. A LocalCluster started by stecheck
#: leaves the variable unset; for workers started otherwise, set the Dask configuration
#: ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` to null in a YAML file (README, "Running on
#: a cluster"; an environment variable cannot, since Dask lower-cases the keys it reads from there).
LOCAL_ENVIRON_NOTE: Final = "MALLOC_TRIM_THRESHOLD_ left unset for LocalCluster workers"
_TRIM: Final = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
#: Dask configuration of a LocalCluster started by stecheck, beyond :data:`LOCAL_ENVIRON_NOTE`: Dask's
#: diagnostics off or rarer. Its statistical profiler samples each worker's stack every 10 ms, every process
#: checks its event loop every 20 ms and each nanny polls its worker's memory every 100 ms: 0.18 of a core
#: on an idle LocalCluster of 2 workers here, 0.02 with these settings, and cores a benchmark of 2 workers
#: on 2 cores does not have to spare. The memory monitor still stops a worker above its limit (within a second).
LOCAL_CONFIG: Final = {
    _TRIM: None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}
_PROTOCOLS: Final = ("tcp", "tls", "ucx", "ws", "wss")
_REMOTE: Final = re.compile(r"^(?:%s)://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})/?$" % "|".join(_PROTOCOLS))


def _cores() -> int:
    return os.cpu_count() or 1


#: Most worker processes ``local:N`` starts: each is a Python process with numpy, scipy and numba loaded
#: (about 200 MB before any work), and a LocalCluster only has this machine's cores to run them on.
MAX_LOCAL_WORKERS: Final = max(4, 4 * _cores())


class ClusterError(StecheckError):
    """A cluster that cannot be used: a bad address, no scheduler there, dask not installed, a lost run."""


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed ``--cluster`` value: ``workers`` processes of a LocalCluster, or a scheduler ``address``."""

    workers: int | None = None
    address: str | None = None

    @property
    def local(self) -> bool:
        return self.address is None

    def describe(self) -> str:
        return f"LocalCluster with {self.workers} worker process(es)" if self.local else f"scheduler {self.address}"


def parse_cluster(text: str, environ: Mapping[str, str] | None = None) -> ClusterAddress:
    """Parse ``local``, ``local:N``, ``PROTOCOL://HOST:PORT`` or ``env`` (module docstring).

    Raises
    ------
    ConfigError
        For anything else, for N outside 1..:data:`MAX_LOCAL_WORKERS`, and for ``env`` without the variable.
    """
    value = str(text).strip()
    if value == "env":
        env = os.environ if environ is None else environ
        found = env.get(ENV_ADDRESS, "").strip()
        if not found:
            raise ConfigError(f"--cluster env reads the scheduler address from ${ENV_ADDRESS}, which is not set")
        if found == "env" or found.startswith("local") or _REMOTE.match(found) is None:
            raise ConfigError(f"${ENV_ADDRESS}={found[:80]!r} is not a scheduler address (expected PROTOCOL://HOST:PORT, "
                              "e.g. tcp://10.0.0.5:8786)")
        return parse_cluster(found)
    if value == "local" or value.startswith("local:"):
        count = value[len("local:"):] if value != "local" else str(min(_cores(), MAX_LOCAL_WORKERS))
        if not count.isdigit() or not count.isascii():
            raise ConfigError(f"--cluster {value[:80]!r}: the worker count after 'local:' must be a whole number, e.g. local:2")
        workers = int(count)
        if not 1 <= workers <= MAX_LOCAL_WORKERS:
            raise ConfigError(
                f"--cluster {value[:80]!r}: a LocalCluster takes 1 to {MAX_LOCAL_WORKERS} worker processes here "
                f"(4 per core on {_cores()} core(s): each worker is a Python process of about 200 MB, and more "
                "only compete for the same cores); use a scheduler address for more"
            )
        return ClusterAddress(workers=workers)
    match = _REMOTE.match(value)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise ConfigError(
            f"--cluster {value[:80]!r} is not a cluster address: expected local, local:N, env, or a scheduler "
            f"address PROTOCOL://HOST:PORT ({', '.join(_PROTOCOLS)}), e.g. tcp://10.0.0.5:8786"
        )
    return ClusterAddress(address=value)


class Cluster:
    """A Dask client for one run (a context manager): connects on entry, closes on exit.

    Parameters
    ----------
    address : str or ClusterAddress
        See :func:`parse_cluster`.
    timeout : float
        Seconds to wait for the scheduler (and for a LocalCluster's workers), :data:`CONNECT_TIMEOUT_S`.

    Examples
    --------
    >>> with Cluster("local:2") as cluster:  # doctest: +SKIP
    ...     squares = list(cluster.map(pow, [(i, 2) for i in range(4)]))
    """

    def __init__(self, address: str | ClusterAddress, timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.target = address if isinstance(address, ClusterAddress) else parse_cluster(address)
        if not timeout > 0:
            raise ConfigError(f"cluster timeout {timeout!r} must be positive")
        self.timeout = float(timeout)
        self._client: Any = None
        self._local: Any = None

    # ------------------------------------------------------------------ connection

    def __enter__(self) -> Cluster:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> Cluster:
        """Start the LocalCluster or connect to the scheduler (idempotent)."""
        if self._client is not None:
            return self
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ClusterError("--cluster needs Dask's distributed scheduler: pip install 'stecheck[dask]'") from None
        try:
            if self.target.local:
                import dask

                with dask.config.set(LOCAL_CONFIG):  # see LOCAL_ENVIRON_NOTE and LOCAL_CONFIG
                    self._local = LocalCluster(
                        n_workers=self.target.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        timeout=self.timeout, silence_logs=50,
                    )
                    # results straight from the workers (by default they pass through the scheduler, here a
                    # second trip over TCP in the same process)
                    self._client = Client(self._local, timeout=self.timeout, direct_to_workers=True)
            else:
                self._client = Client(self.target.address, timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ClusterError(f"cannot reach the {self.target.describe()} within {self.timeout:g} s: {reason[:300]}") from None
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close the client and a LocalCluster started here (a remote scheduler keeps running)."""
        client, local, self._client, self._local = self._client, self._local, None, None
        for thing in (client, local):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing a broken connection must not hide the run's own error
                    pass

    @property
    def client(self) -> Any:
        """The connected :class:`distributed.Client`."""
        if self._client is None:
            self.open()
        return self._client

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now (at least 1)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL, when the scheduler serves one (a LocalCluster's needs bokeh installed here)."""
        import importlib.util

        if self.target.local and importlib.util.find_spec("bokeh") is None:
            return None
        try:
            return self.client.dashboard_link or None
        except Exception:  # noqa: BLE001 - no dashboard (bokeh missing, disabled): nothing to print
            return None

    def describe(self) -> dict[str, Any]:
        """Facts for the provenance record: the address kind and the worker count (never the address itself)."""
        return {"kind": "local" if self.target.local else "scheduler", "workers": self.workers}

    # ------------------------------------------------------------------ work

    def map(self, fn: Callable[..., T], tasks: Iterable[tuple[Any, ...]]) -> Iterator[T]:
        """``fn(*args)`` for every ``args`` of ``tasks`` on the cluster, yielded in the order of ``tasks``.

        Tasks go to the scheduler in batches (one message for several tasks): up to :data:`MAP_AHEAD` per
        worker are submitted and not yet handed out, topped up when half of them have been. The results
        that are ready in order are fetched together. A task costs Dask a few milliseconds of CPU time in the
        client, the scheduler and the worker; submitted and fetched one at a time, it cost three times as much
        here. A worker lost mid-task has its task rerun by Dask (up to
        ``distributed.scheduler.allowed-failures`` times); an exception raised by ``fn`` is raised here; on any
        exception, an interrupt or ``close()`` of this generator, the tasks not yet handed out are cancelled.
        """
        from distributed import wait

        client = self.client
        window = MAP_AHEAD * self.workers
        todo = iter(tasks)
        pending: deque[Any] = deque()

        def top_up() -> None:
            batch = [args for _, args in zip(range(window - len(pending)), todo)]
            if batch:
                pending.extend(client.map(fn, *zip(*batch), pure=False) if batch[0] else
                               [client.submit(fn, pure=False) for _ in batch])

        try:
            top_up()
            while pending:
                wait([pending[0]])
                ready = []
                for future in pending:
                    if not future.done():
                        break
                    if future.status != "finished":
                        self._result(future)  # raises the task's error
                    ready.append(future)
                try:
                    results = client.gather(ready)
                except Exception:
                    for future in ready:
                        self._result(future)  # the task's error, or a ClusterError with the reason
                    raise
                for result in results:
                    pending.popleft()
                    yield result
                    if len(pending) <= window // 2:
                        top_up()
        finally:
            if pending:
                try:
                    client.cancel(list(pending))
                except Exception:  # noqa: BLE001 - the connection may be what failed
                    pass

    def fold(
        self, work: Callable[..., Any], combine: Callable[[Any, Any], Any], tasks: Iterable[tuple[tuple[Any, ...], int]],
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """``combine(... combine(combine(None, work(*a0)), work(*a1)) ..., work(*aN))`` on the cluster.

        ``tasks`` yields ``(args, weight)``. The ``work`` tasks run in parallel; the ``combine`` tasks form
        one chain in task order, each run by Dask where its ``work`` result lies, so only the running total
        moves between workers and only the final one comes back. ``combine`` must not modify its
        arguments (Dask may hold them for a rerun). ``progress(weight)`` is called as each link of the
        chain finishes, in order; at most :data:`TASKS_PER_WORKER` ``work`` tasks per worker are unmerged. A lost
        worker's results are recomputed by Dask from their inputs (for a running total, from the start
        of the chain); on any exception or interrupt the unfinished tasks are cancelled.
        """
        return self.folds(work, combine, [tasks], progress)[0]

    def folds(
        self, work: Callable[..., Any], combine: Callable[[Any, Any], Any],
        chains: Sequence[Iterable[tuple[tuple[Any, ...], int]]], progress: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """:meth:`fold` of each of ``chains``, one result per chain; a chain's tasks are submitted while the
        previous chain's last links still run, so workers do not wait at the boundaries.

        A ``work`` result (a few chunks' tables: tens of megabytes) is usually far larger than the running
        total, so each ``combine`` is submitted once its ``work`` task has finished, asking for the worker
        that holds the result (a loose restriction: another worker takes it if that one is lost) and with a
        higher priority than the queued ``work`` tasks: the total moves to the result, never the result to
        the total, and the chain keeps up with the work. At most :data:`TASKS_PER_WORKER` ``work`` tasks per
        worker are submitted and not yet merged.
        """
        from distributed import wait

        client = self.client
        window = TASKS_PER_WORKER * self.workers
        results: list[Any] = [None] * len(chains)
        totals: list[Any] = [None] * len(chains)
        parts: deque[tuple[Any, int, int, bool]] = deque()
        links: deque[tuple[Any, int, int, bool]] = deque()

        def finish(link: Any, weight: int, chain: int, last: bool) -> None:
            wait([link])
            if link.status != "finished":
                self._result(link)  # raises the task's error
            if progress is not None:
                progress(weight)
            if last:
                results[chain] = self._result(link)

        def link(part: Any, weight: int, chain: int, last: bool) -> None:
            wait([part])
            if part.status != "finished":
                self._result(part)  # raises the task's error
            holders = sorted(client.who_has([part]).get(part.key, ()))
            total = client.submit(combine, totals[chain], part, pure=False, priority=1,
                                  workers=holders or None, allow_other_workers=bool(holders))
            totals[chain] = total
            links.append((total, weight, chain, last))
            while links and (len(links) > self.workers or links[0][0].done()):
                finish(*links.popleft())

        def steps() -> Iterator[tuple[tuple[Any, ...], int, int, bool]]:
            for chain, tasks in enumerate(chains):
                todo = iter(tasks)
                step = next(todo, None)
                while step is not None:
                    (args, weight), step = step, next(todo, None)
                    yield args, weight, chain, step is None

        try:
            for args, weight, chain, last in steps():
                parts.append((client.submit(work, *args, pure=False), weight, chain, last))
                if len(parts) >= window:
                    link(*parts.popleft())
            while parts:
                link(*parts.popleft())
            while links:
                finish(*links.popleft())
            return results
        finally:
            pending = [entry[0] for entry in (*parts, *links)]
            if pending:
                try:
                    client.cancel(pending)
                except Exception:  # noqa: BLE001 - the connection may be what failed
                    pass

    def _result(self, future: Any) -> Any:
        from distributed.scheduler import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise ClusterError(f"a task was lost with every worker that ran it ({' '.join(str(exc).split())[:200]}); "
                               "the workers may be running out of memory") from None
        except (OSError, TimeoutError) as exc:
            if getattr(self._client, "status", "running") == "running":
                raise  # the task's own error, raised on the worker
            raise ClusterError(f"lost the connection to the {self.target.describe()}: {' '.join(str(exc).split())[:200]}") from None
