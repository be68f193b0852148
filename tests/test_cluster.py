"""The Dask backend (``--cluster``) on a real LocalCluster of 2 worker processes.

Every command run on the cluster must give records byte-identical to the same run on one local thread:
the tasks are pure functions and their results are merged on the client in a fixed order. One test kills
a worker process while its tasks are in flight; Dask reruns them and the records are still identical.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from stecheck.claims.phase.run import PhaseConfig, run_phase  # noqa: E402
from stecheck.config import RunConfig  # noqa: E402
from stecheck.engine.cluster import CONNECT_TIMEOUT_S, MAX_LOCAL_WORKERS, Cluster, parse_cluster  # noqa: E402
from stecheck.engine.runner import run  # noqa: E402
from stecheck.errors import ConfigError, StecheckError  # noqa: E402
from stecheck.records import to_json_text  # noqa: E402
from tests.conftest import SEED, invoke  # noqa: E402
from tests.weights_fixtures import weights_like, write_sharded  # noqa: E402

import ml_dtypes  # noqa: E402


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The address of a LocalCluster with 2 worker processes of 1 thread, shared by the tests of this module."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=50)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _stdout(result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _records_text(stdout: str) -> str:
    """The records of a ``--format json`` output, serialised again (meta holds the wall time)."""
    return json.dumps(json.loads(stdout)["records"])


# ------------------------------------------------------------------ addresses


@pytest.mark.parametrize("text, why", [
    ("local:0", "1 to"),
    ("local:abc", "whole number"),
    ("local:-1", "whole number"),
    (f"local:{MAX_LOCAL_WORKERS + 1}", "1 to"),
    ("nowhere", "not a cluster address"),
    ("tcp://host", "not a cluster address"),
    ("tcp://host:99999", "not a cluster address"),
])
def test_a_bad_address_is_a_config_error_naming_the_reason(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_cluster(text)


def test_addresses_parse() -> None:
    assert parse_cluster("local:2").workers == 2
    assert 1 <= parse_cluster("local").workers <= MAX_LOCAL_WORKERS
    assert parse_cluster("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_cluster("env", {"DASK_SCHEDULER_ADDRESS": "tcp://h:1"}).address == "tcp://h:1"
    with pytest.raises(ConfigError, match="DASK_SCHEDULER_ADDRESS"):
        parse_cluster("env", {})


@pytest.mark.parametrize("address", ["local:0", "local:abc", f"local:{MAX_LOCAL_WORKERS + 1}", "ftp://x:1"])
def test_cli_refuses_a_bad_address_in_one_line_and_writes_nothing(runner, tmp_path: Path, address: str) -> None:
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "-d", "uniform(0,1)", "-k", "2", "-n", "1000", "--out", str(out), "--cluster", address)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --cluster")
    assert not out.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_exit_2_within_the_timeout(runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    started = time.monotonic()
    result = invoke(runner, "simulate", "-d", "uniform(0,1)", "-k", "2", "-n", "1000", "--out", str(out),
                    "--cluster", f"tcp://127.0.0.1:{_free_port()}")
    elapsed = time.monotonic() - started
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: cannot reach the scheduler tcp://127.0.0.1:")
    assert f"within {CONNECT_TIMEOUT_S:g} s" in result.stderr
    assert elapsed < CONNECT_TIMEOUT_S + 10.0
    assert not out.exists()


def test_jobs_and_cluster_contradict(runner) -> None:
    result = invoke(runner, "simulate", "-d", "uniform(0,1)", "-k", "2", "-n", "1000", "-j", "2", "--cluster", "tcp://127.0.0.1:1")
    assert result.exit_code == 2 and "contradict" in result.stderr


# ------------------------------------------------------------------ identical records

_SIMULATE = ("simulate", "-d", "normal(0.5,0.15)", "-d", "dorefa(normal(0,0.05),size=4096)", "-k", "1-3",
             "--rounding", "half-even", "--rounding", "stochastic", "--h", "1e-3", "--fd", "forward", "--fd", "central",
             "-n", "2500000", "--seed", str(SEED), "--no-save")  # 10 chunks per input: tasks of 2, a chain of 5


def test_simulate_on_the_cluster_gives_the_same_records(runner, scheduler: str) -> None:
    local = _stdout(invoke(runner, *_SIMULATE, "--threads", "1", "--format", "csv"))
    remote = _stdout(invoke(runner, *_SIMULATE, "--cluster", scheduler, "--format", "csv"))
    assert remote == local
    assert len(local.splitlines()) == 1 + 2 * 3 * 2 * 2  # header + input x k x rounding x scheme


def test_beyond_exact_table_sums_the_chain_merges_every_chunk_with_the_same_records(scheduler: str, monkeypatch) -> None:
    """Above EXACT_DEVIATION_SAMPLES per input a task's tables could round when added up as a block: the chunks are
    then merged one by one by the chain of merge tasks, still giving the records of one thread."""
    import stecheck.engine.runner as runner

    config = RunConfig(inputs=("laplace(0.5,0.1)", "normal(0.5,0.15)"), bits=(2, 5), steps=(1e-3,), schemes=("central",),
                       roundings=("half-even",), samples=6 * (1 << 18), seed=SEED, method="mc")
    local = run(config)
    chains: list[int] = []
    with Cluster(scheduler) as cluster:
        folds = cluster.folds

        def counted(*args, **kwargs):
            chains.append(len(args[2]))
            return folds(*args, **kwargs)

        monkeypatch.setattr(cluster, "folds", counted)
        assert to_json_text({}, run(config, cluster=cluster).records) == to_json_text({}, local.records)
        assert chains == []  # 6 chunks per input: each task adds its chunks up
        monkeypatch.setattr(runner, "EXACT_DEVIATION_SAMPLES", 5 * (1 << 18))
        assert to_json_text({}, run(config, cluster=cluster).records) == to_json_text({}, local.records)
    assert chains == [2]  # one chain per input


def test_simulate_from_python_on_a_local_cluster_it_starts(tmp_path: Path) -> None:
    import stecheck

    kwargs = dict(bits="2-3", h=1e-3, fd="forward", samples=600_000, seed=SEED, method="both")
    local = stecheck.simulate("laplace(0.5,0.1)", **kwargs)
    remote = stecheck.simulate("laplace(0.5,0.1)", cluster="local:2", **kwargs)
    assert to_json_text({}, remote) == to_json_text({}, local)


def _worker_settings(dask_worker) -> tuple[object, object, object]:
    """Run on each worker by ``client.run`` (which passes the worker)."""
    import dask

    worker = dask_worker
    return (dask.config.get("distributed.worker.profile.enabled"), dask.config.get("distributed.admin.tick.interval"),
            "profile" in worker.periodic_callbacks)


def test_a_local_cluster_it_starts_runs_without_dask_diagnostics_and_fetches_from_the_workers() -> None:
    from stecheck.engine.cluster import LOCAL_CONFIG

    with Cluster("local:2") as cluster:
        settings = set(cluster.client.run(_worker_settings).values())
        assert cluster.client.direct_to_workers is True
    assert settings == {(False, LOCAL_CONFIG["distributed.admin.tick.interval"], False)}


def _checkpoint(directory: Path) -> Path:
    """A sharded safetensors checkpoint: 3 shard files, float32 and bfloat16 tensors, an index."""
    rng = np.random.default_rng(SEED)
    tensors = {
        f"model.layers.{i}.{part}.weight": weights_like(rng, shape, scale).astype(dtype)
        for i in range(3)
        for part, shape, scale, dtype in (("mlp.up_proj", (96, 64), 0.05, np.float32),
                                          ("self_attn.q_proj", (64, 64), 0.02, ml_dtypes.bfloat16))
    }
    tensors["model.norm.weight"] = (1.0 + weights_like(rng, (64,), 0.01)).astype(np.float32)
    write_sharded(directory, tensors, shards=3)
    return directory


def test_weights_scan_of_a_sharded_checkpoint_on_the_cluster_gives_the_same_records(runner, scheduler: str, tmp_path: Path) -> None:
    source = _checkpoint(tmp_path / "ckpt")
    assert len(list(source.glob("*.safetensors"))) == 3
    args = ("weights", str(source), "-k", "1-4", "--h", "1e-3", "--h", "1e-2", "--all", "--no-save", "--format", "csv")
    local = _stdout(invoke(runner, *args))
    remote = _stdout(invoke(runner, *args, "--cluster", scheduler))
    assert remote == local
    assert local.count("model.layers.") == 6 * 4 * 2


def test_a_weights_task_carries_paths_and_indices_never_the_tensors(tmp_path: Path) -> None:
    import pickle

    from stecheck.weights import open_source, scan, select
    from stecheck.weights.scan import remote_statistics, remote_tensors

    source = open_source(str(_checkpoint(tmp_path / "ckpt")))
    tensors = select(source.tensors, all_tensors=True)
    sent: list[tuple] = []

    def recording_map(fn, tasks):
        assert fn is remote_tensors
        for args in tasks:
            sent.append(args)
            yield fn(*pickle.loads(pickle.dumps(args)))

    quantizers = ("dorefa", "absmax(4,group=16)")
    assert scan(source.label, tensors, (2, 3), (1e-3,), mapper=recording_map, quantizers=quantizers) == scan(
        source.label, tensors, (2, 3), (1e-3,), quantizers=quantizers)
    assert len(sent) == 1  # seven small tensors: one batch
    entries = [entry for args in sent for entry in args[0]]
    assert len(entries) == len(tensors) == 7
    for (path, index, name), tensor in zip(entries, tensors):
        assert Path(path) == tmp_path / "ckpt" and Path(path).is_absolute() and name == tensor.name  # the source, opened once per worker
    for args in sent:
        assert args[1:] == ((2, 3), (1e-3,), "dorefa", ("absmax(4,group=16)",)) and len(pickle.dumps(args)) < 2000
    with pytest.raises(StecheckError, match="same files at the same path"):
        remote_statistics(str(tmp_path / "gone.safetensors"), 0, "x", (2,), (1e-3,), "dorefa")


def _pipe_to_memory(root: str, files: dict[str, bytes]) -> int:
    """Write ``files`` under ``root`` of this process's fsspec memory file system (run on each worker)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for name, data in files.items():
        fs.pipe_file(f"{root}/{name}", data)
    return len(files)


def test_weights_from_urls_on_the_cluster_give_the_records_of_the_local_path(runner, scheduler: str, tmp_path: Path) -> None:
    import uuid

    pytest.importorskip("fsspec")
    from tests.test_weights_urls import write_checkpoint

    source = write_checkpoint(tmp_path / "ckpt")
    args = ("-k", "1-4", "--h", "1e-3", "--all", "-Q", "dorefa", "-Q", "absmax(4,group=16)", "--no-save", "--format", "json")

    def records(where: str, *extra: str) -> list[dict]:
        out = json.loads(_stdout(invoke(runner, "weights", where, *args, *extra)))["records"]
        return [{k: v for k, v in r.items() if k != "source"} for r in out]

    local = records(str(source))
    assert records(source.as_uri(), "--cluster", scheduler) == local
    # fsspec's memory file system lives in each process: the workers get their own copy of the files, so
    # they can only have read the tensors by URL and byte range
    root = f"/stecheck-{uuid.uuid4().hex}"
    files = {p.name: p.read_bytes() for p in source.iterdir()}
    _pipe_to_memory(root, files)
    with distributed.Client(scheduler, timeout=10) as client:
        assert set(client.run(_pipe_to_memory, root, files).values()) == {len(files)}
    assert records(f"memory://{root}", "--cluster", scheduler) == local


def test_check_on_the_cluster_gives_the_same_verdicts(runner, scheduler: str, tmp_path: Path, monkeypatch) -> None:
    source = _checkpoint(tmp_path / "ckpt")
    bounds = tmp_path / "bounds.toml"
    bounds.write_text(
        f'[defaults]\nsamples = 600000\nseed = "{hex(SEED)}"\nrounding = "half-even"\nfd = "forward"\nh = 1e-3\n\n'
        '[[bound]]\nname = "normal E[D_h] agrees with exact"\nsource = "normal(0.5,0.15)"\nk = "1-3"\n'
        'statistic = "mean_fd"\ntarget = "exact"\nwithin_se = 5\n\n'
        '[[bound]]\nname = "uniform E[n]"\nsource = "uniform(0,1)"\nk = "2"\nstatistic = "mean_n"\ntarget = 0.0\nwithin_se = 5\n\n'
        f'[[bound]]\nname = "weights E[n]"\nweights = "{source}"\nk = "2-3"\nstatistic = "mean_n"\ninterval = [-1, 1]\n'
    )
    local = _stdout(invoke(runner, "check", str(bounds), "--format", "json"))
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", scheduler)
    remote = _stdout(invoke(runner, "check", str(bounds), "--format", "json", "--cluster", "env"))
    assert _records_text(remote) == _records_text(local)
    assert len(json.loads(local)["records"]) == 3 + 1 + 2


def test_phase_on_the_cluster_gives_the_same_records(scheduler: str) -> None:
    config = PhaseConfig(families=("normal", "laplace", "uniform"), sigma_points=24, offset_points=12, samples=100_000, seed=SEED)
    local = run_phase(config)
    with Cluster(scheduler) as cluster:
        remote = run_phase(config, cluster=cluster)
    for name in ("rule_records", "map_records", "spot_records"):
        assert to_json_text({}, getattr(remote, name)) == to_json_text({}, getattr(local, name)), name
    assert len(local.spot_records) > 0
    for a, b in zip(local.maps, remote.maps):
        assert np.array_equal(a.mean_fd_fourier, b.mean_fd_fourier) and np.array_equal(a.mean_fd_cdf, b.mean_fd_cdf)


def test_phase_cli_on_the_cluster_writes_the_same_files(runner, scheduler: str, tmp_path: Path) -> None:
    args = ("phase", "--family", "normal", "--family", "logistic", "--sigma-points", "16", "--offset-points", "8", "-n", "50000")
    invoke(runner, *args, "--out", str(tmp_path / "local"))
    result = invoke(runner, *args, "--out", str(tmp_path / "remote"), "--cluster", scheduler)
    assert result.exit_code == 0, result.stderr
    for name in ("records.csv", "map/records.csv", "spot/records.csv"):
        assert (tmp_path / "remote" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


def _where_work(index: int) -> tuple[int, str]:
    import time as _time

    from distributed import get_worker

    _time.sleep(0.05)  # long enough for both workers to take tasks
    return index, get_worker().address


def _where_combine(total, part):
    """A running total that is large (16 MB) while each part is tiny: left to itself, Dask would move the
    part to the total; the fold must run the merge where the part is."""
    from distributed import get_worker

    here = get_worker().address
    seen = [] if total is None else total[1]
    return np.zeros(1 << 21), [*seen, (part[0], part[1], here)]


def test_a_fold_merges_on_the_worker_that_holds_the_work_result(scheduler: str) -> None:
    with Cluster(scheduler) as cluster:
        merged = cluster.fold(_where_work, _where_combine, [((i,), 1) for i in range(12)])
    links = merged[1]
    assert [index for index, _, _ in links] == list(range(12))  # merged in order
    assert len({worker for _, worker, _ in links}) == 2  # the work ran on both workers
    assert all(worker == here for _, worker, here in links)


# ------------------------------------------------------------------ faults


def test_a_worker_killed_mid_run_changes_no_record(scheduler: str) -> None:
    config = RunConfig(inputs=("normal(0.3,0.1)",), bits=(1, 2, 3, 4), steps=(1e-3,), schemes=("forward",),
                       roundings=("half-even",), samples=24 * (1 << 18), seed=SEED, method="mc")
    local = run(config)
    with Cluster(scheduler) as cluster:
        client = cluster.client
        before = client.run(os.getpid)
        killed: list[int] = []
        seen = [0]

        def kill_one_worker(samples: int) -> None:
            seen[0] += samples
            if not killed:  # the first merged block is done; the others are in flight on both workers
                pid = sorted(before.values())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        remote = run(config, progress=kill_one_worker, cluster=cluster)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(client.scheduler_info()["workers"]) < 2:
            time.sleep(0.2)
        after = client.run(os.getpid)
    assert killed and killed[0] not in after.values()  # the process is gone: its tasks were rerun elsewhere
    assert seen[0] == config.samples
    assert to_json_text({}, remote.records) == to_json_text({}, local.records)


def test_an_interrupt_cancels_the_pending_tasks(scheduler: str) -> None:
    config = RunConfig(inputs=("uniform(0,1)",), bits=(1, 2, 3, 4, 5, 6), steps=(1e-3,), schemes=("forward",),
                       roundings=("half-even",), samples=4000 * (1 << 18), seed=SEED, method="mc")

    def interrupt(_samples: int) -> None:
        raise KeyboardInterrupt

    with Cluster(scheduler) as cluster:
        with pytest.raises(KeyboardInterrupt):
            run(config, progress=interrupt, cluster=cluster)
        # cancelling is asynchronous on the scheduler: wait (up to 30 s, for a loaded machine) until it holds no task;
        # the run is ~100 s of work on two workers, so only cancelled tasks can leave the scheduler this soon
        def scheduler_tasks() -> int:
            return cluster.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (any(cluster.client.processing().values()) or scheduler_tasks()):
            time.sleep(0.1)
        assert not any(cluster.client.processing().values())
        assert scheduler_tasks() == 0


# ------------------------------------------------------------------ no processes or sockets of stecheck's own

#: Modules that start processes or open connections. stecheck distributes work only through Dask.
_OWN_IO = ("socket", "socketserver", "ssl", "asyncio", "multiprocessing", "subprocess", "concurrent.futures.ProcessPoolExecutor",
           "http", "urllib.request", "xmlrpc", "distributed", "dask")
#: The named exceptions, none of them distribution: the git revision for the provenance, the zoo's one pip
#: download, the figure-drawing processes of ``plot -j``, and the cluster backend's lazy import of Dask.
_ALLOWED = {
    "records.py": {"subprocess"},
    "weights/zoo.py": {"subprocess"},
    "views/plots/runs.py": {"multiprocessing", "concurrent.futures.ProcessPoolExecutor"},
    "engine/cluster.py": {"dask", "distributed.Client", "distributed.LocalCluster", "distributed.as_completed", "distributed.wait",
                          "distributed.scheduler.KilledWorker"},
}


def _imports(path: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_stecheck_starts_no_process_and_opens_no_socket_of_its_own() -> None:
    import stecheck

    root = Path(stecheck.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        own = {n for n in _imports(path) if any(n == m or n.startswith(m + ".") for m in _OWN_IO)}
        if own - _ALLOWED.get(rel, set()):
            found[rel] = sorted(own - _ALLOWED.get(rel, set()))
    assert found == {}
    assert _imports(root / "engine" / "cluster.py") >= {"distributed.Client", "distributed.LocalCluster"}


# ------------------------------------------------------------------ Ctrl-C and --resume with a cluster

_LONG = ("simulate", "--dist", "normal(0.5,0.15)", "--dist", "uniform(0,1)", "--dist", "laplace(0.5,0.2)", "--bits", "1-3",
         "--h", "1e-3", "--fd", "forward", "--method", "mc", "--samples", "1600000", "--seed", str(SEED), "--quiet")


@pytest.mark.slow
def test_ctrl_c_on_a_cluster_run_keeps_previous_results_and_resume_on_the_cluster_matches(runner, scheduler: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from stecheck.engine.runstate import STATE_DIR

    clean = tmp_path / "clean"
    assert invoke(runner, *_LONG, "--out", str(clean)).exit_code == 0
    out = tmp_path / "out"
    assert invoke(runner, "simulate", "-d", "point(0.3)", "-k", "2", "--h", "0.1", "-n", "10", "--seed", "1", "--quiet",
                  "--out", str(out)).exit_code == 0
    previous = {p.name: p.read_bytes() for p in out.iterdir()}

    proc = subprocess.Popen([sys.executable, "-m", "stecheck", *_LONG, "--out", str(out), "--cluster", scheduler],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / STATE_DIR / "input-0000.json"
    deadline = time.monotonic() + 120
    while not first.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith("error: interrupted, nothing written;")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == previous

    with distributed.Client(scheduler, timeout=10) as client:  # the interrupted client's tasks are gone
        deadline = time.monotonic() + 10
        while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0

    resumed = invoke(runner, *_LONG, "--out", str(out), "--resume", "--cluster", scheduler)
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads((out / "meta.json").read_text())["resumed_inputs"] >= 1
    for name in ("records.csv", "records.md"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
