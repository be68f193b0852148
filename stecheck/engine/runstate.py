"""Resumable multi-input runs: finished inputs are kept on disk so an interrupted run can continue.

A run writing to ``--out DIR`` keeps ``DIR/.stecheck-state/``: ``plan.json`` (the resolved config with
its seed) and one ``input-NNNN.json`` per finished input, written atomically as soon as the input is
done. ``stecheck simulate --resume`` reads them back, runs only the inputs still missing and merges the
records in input order. Every input draws its samples from streams derived from (root seed, input,
chunk) only, so the records of one input do not depend on which other inputs share the run: a resumed
run's records equal an uninterrupted run's, byte for byte once written. The state directory is removed
when the results have been written.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Final

import numpy as np

from stecheck.config import RunConfig
from stecheck.engine.runner import RunResult, run, total_samples
from stecheck.engine.sampling import CHUNK_SIZE
from stecheck.errors import StecheckError
from stecheck.records import SIMULATE_FIELDS, Record, check_value_types, provenance, to_json_text, write_text_atomic

if TYPE_CHECKING:
    from stecheck.engine.cluster import Cluster

__all__ = ["STATE_DIR", "ResumableRun"]

#: Directory of the resume state inside an output directory.
STATE_DIR: Final = ".stecheck-state"
_PLAN: Final = "plan.json"


def _input_file(index: int) -> str:
    return f"input-{index:04d}.json"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StecheckError(f"cannot resume: state file {str(path)!r} is unreadable ({exc}); rerun without --resume") from None
    except RecursionError:
        raise StecheckError(f"cannot resume: state file {str(path)!r} is unreadable (JSON nested too deeply); rerun without --resume") from None


def _differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [f"{key}: {saved.get(key)!r} then, {current.get(key)!r} now" for key in keys if saved.get(key) != current.get(key)]


def _check_records(records: list[Any], spec: str, path: Path) -> None:
    """The saved records of one input: of the record schema's types, and for that input."""
    try:
        check_value_types(records, repr(str(path)))
    except StecheckError as exc:
        raise StecheckError(f"cannot resume: {exc}; rerun without --resume") from None
    for rec in records:
        if set(rec) != set(SIMULATE_FIELDS) or rec["dist"] != spec:
            raise StecheckError(f"cannot resume: {str(path)!r} holds a record that is not one of input {spec!r}; rerun without --resume")


@dataclass
class ResumableRun:
    """A run of ``config`` whose finished inputs are saved under ``out_dir/.stecheck-state``.

    Build it with :meth:`open`; :meth:`run` computes the missing inputs, :meth:`discard` removes the
    state once the results are safely written.
    """

    config: RunConfig
    state: Path
    finished: dict[int, list[Record]]

    @classmethod
    def open(cls, config: RunConfig, out_dir: Path, resume: bool) -> ResumableRun:
        """Start a fresh run (dropping any old state) or, with ``resume``, load the interrupted one.

        With ``resume`` the options must resolve to the interrupted run's config; an unset seed takes
        the saved one.
        """
        config = config.validated()
        state = Path(out_dir) / STATE_DIR
        finished: dict[int, list[Record]] = {}
        if resume:
            plan_path = state / _PLAN
            if not plan_path.is_file():
                raise StecheckError(f"nothing to resume in {str(out_dir)!r}: no interrupted run left state there")
            saved = _read_json(plan_path)
            if (not isinstance(saved, dict) or not isinstance(saved.get("seed"), str) or not saved["seed"].isascii()
                    or not saved["seed"].isdigit() or len(saved["seed"]) > 80 or not isinstance(saved.get("config"), dict)):
                raise StecheckError(f"cannot resume: {str(plan_path)!r} is malformed; rerun without --resume")
            if config.seed is None:
                config = replace(config, seed=int(saved["seed"]))
            diff = _differences(saved["config"], json.loads(json.dumps(config.as_dict())))
            if diff:
                raise StecheckError(f"cannot resume: the options differ from the interrupted run's ({'; '.join(diff)})")
            for index, spec in enumerate(config.inputs):
                path = state / _input_file(index)
                if path.is_file():
                    data = _read_json(path)
                    if (not isinstance(data, dict) or not isinstance(data.get("meta"), dict) or data["meta"].get("input") != spec
                            or not isinstance(data.get("records"), list)):
                        raise StecheckError(f"cannot resume: {str(path)!r} does not hold input {spec!r}; rerun without --resume")
                    _check_records(data["records"], spec, path)
                    finished[index] = data["records"]
        else:
            if config.seed is None:
                config = replace(config, seed=int(np.random.SeedSequence().entropy))  # type: ignore[arg-type]
            shutil.rmtree(state, ignore_errors=True)
            try:
                state.mkdir(parents=True)
                write_text_atomic(state / _PLAN, json.dumps({"seed": str(config.seed), "config": config.as_dict()}, indent=1) + "\n")
            except OSError as exc:
                shutil.rmtree(state, ignore_errors=True)
                raise StecheckError(f"cannot write run state to {str(state)!r}: {exc.strerror or exc}") from None
        return cls(config, state, finished)

    def pending(self) -> list[int]:
        """Indices of the inputs still to run."""
        return [i for i in range(len(self.config.inputs)) if i not in self.finished]

    def total_samples(self) -> int:
        """Monte Carlo samples still to draw (the progress bar's total)."""
        return total_samples(replace(self.config, inputs=tuple(self.config.inputs[i] for i in self.pending())))

    def run(self, threads: int = 1, progress: Callable[[int], None] | None = None, cluster: Cluster | None = None) -> RunResult:
        """Run the pending inputs one by one, saving each as it finishes; records in input order.

        ``cluster``: run each input's chunks on Dask (:func:`stecheck.engine.runner.run`); the state is saved
        here, on the client, as each input finishes, so an interrupted cluster run resumes like a local one.
        """
        started = time.perf_counter()
        resumed = len(self.finished)
        for index in self.pending():
            spec = self.config.inputs[index]
            part = run(replace(self.config, inputs=(spec,)), threads=threads, progress=progress, cluster=cluster)
            text = to_json_text({"input": spec}, part.records)
            try:
                write_text_atomic(self.state / _input_file(index), text)
            except OSError as exc:
                raise StecheckError(
                    f"cannot write run state to {str(self.state)!r}: {exc.strerror or exc}; {len(self.finished)} finished "
                    f"input(s) kept there, continue with --resume once there is room"
                ) from None
            self.finished[index] = json.loads(text)["records"]
        records = [rec for index in range(len(self.config.inputs)) for rec in self.finished[index]]
        wall = time.perf_counter() - started
        meta = provenance("simulate", self.config.as_dict(), seed=None, wall_time_s=wall, threads=threads,
                          chunk_size=CHUNK_SIZE, resumed_inputs=resumed,
                          **({} if cluster is None else {"cluster": cluster.describe()}))
        meta["seed"] = str(self.config.seed)
        return RunResult(self.config, records, meta)

    def discard(self) -> None:
        """Remove the state directory (after the results are written)."""
        shutil.rmtree(self.state, ignore_errors=True)
