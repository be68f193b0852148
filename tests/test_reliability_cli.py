"""Every user mistake on the command line: one ``error: ...`` line on stderr, exit 2, no output files.

The cases below are run in-process (CliRunner) and, a representative one per command and kind of input,
as real subprocesses. Their outcomes are rendered into docs/bad-inputs.md, which a test keeps equal to a
fresh rendering (``STECHECK_WRITE_DOCS=1 python -m pytest tests/test_reliability_cli.py`` rewrites it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from typer.testing import CliRunner

from stecheck.config import RunConfig
from stecheck.engine.runstate import STATE_DIR, ResumableRun
from stecheck.safety import out_dir_lock
from tests.conftest import invoke
from tests.test_fuzz_weights import _external_model, _raw_safetensors

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-inputs.md"
SPEC = ["--dist", "normal(0.5,0.15)"]
QUICK = ["--bits", "1", "--h", "1e-3", "--samples", "1000", "--quiet"]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (``{tmp}`` is a fresh directory), an optional setup, the message."""

    kind: str
    what: str
    argv: tuple[str, ...]
    needle: str
    setup: Callable[[Path], None] | None = field(default=None, compare=False)
    subprocess: bool = False

    def args(self, tmp: Path) -> list[str]:
        return [a.replace("{tmp}", str(tmp)) for a in self.argv]


def _sim(*extra: str, spec: tuple[str, ...] = tuple(SPEC)) -> tuple[str, ...]:
    return ("simulate", *spec, *QUICK, "--out", "{tmp}/out", *extra)


def _write(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).write_text(text, encoding="utf-8")

    return setup


def _state(tmp: Path) -> None:
    """The resume state of an interrupted run of ``normal(0.5,0.15)`` at k = 1, seed 7."""
    config = RunConfig(inputs=("normal(0.5,0.15)",), bits=(1,), steps=(1e-3,), samples=1000, seed=7)
    (tmp / "out").mkdir()
    ResumableRun.open(config, tmp / "out", resume=False)


def _corrupt_state(tmp: Path) -> None:
    _state(tmp)
    (tmp / "out" / STATE_DIR / "plan.json").write_text("{not json", encoding="utf-8")


#: A bounds file with one exact bound under a quantizer (``{quantizer}``).
_QUANTIZER_BOUND = ('[[bound]]\nname = "q"\nsource = "normal(0,0.3)"\nquantizer = "{quantizer}"\nstatistic = "exact_mean_fd"\n'
                    'h = 1e-3\ntarget = 1.0\nwithin = 0.05\n')


CASES: list[Case] = [
    # distribution spec strings
    Case("spec", "NaN parameter", _sim(spec=("--dist", "normal(nan,1)")), "not finite", subprocess=True),
    Case("spec", "infinite parameter", _sim(spec=("--dist", "normal(0.5,inf)")), "not finite"),
    Case("spec", "negative infinity", _sim(spec=("--dist", "uniform(-inf,1)")), "not finite"),
    Case("spec", "overflowing literal", _sim(spec=("--dist", "normal(1e400,1)")), "not finite"),
    Case("spec", "huge location", _sim(spec=("--dist", "normal(1e300,1)")), "outside"),
    Case("spec", "denormal scale", _sim(spec=("--dist", "normal(0.5,1e-310)")), "outside"),
    Case("spec", "scale below float resolution", _sim(spec=("--dist", "uniform(0.5,0.500000000001)")), "outside"),
    Case("spec", "tiny beta shape", _sim(spec=("--dist", "beta(1e-300,1)")), "outside"),
    Case("spec", "t tails heavier than float64", _sim(spec=("--dist", "t(0.1,0,1)")), "outside"),
    Case("spec", "empty interval", _sim(spec=("--dist", "uniform(1,0)")), "a < b"),
    Case("spec", "unknown family", _sim(spec=("--dist", "gauss(0,1)")), "unknown family"),
    Case("spec", "unbalanced parenthesis", _sim(spec=("--dist", "normal(0.5,0.1")), "position"),
    Case("spec", "empty spec", _sim(spec=("--dist", "")), "expected a family name"),
    Case("spec", "control character", _sim(spec=("--dist", "normal(0.5,\x010.1)")), "unexpected character"),
    Case("spec", "mixture weights not summing to 1", _sim(spec=("--dist", "mix(0.5*normal(0,1),0.6*uniform(0,1))")), "sum to 1"),
    Case("spec", "NaN mixture weight", _sim(spec=("--dist", "mix(nan*normal(0,1),1*uniform(0,1))")), "not finite"),
    Case("spec", "absurd DoReFa tensor size", _sim(spec=("--dist", "dorefa(normal(0,1),size=1e12)")), "dorefa size"),
    Case("spec", "nested input path", _sim(spec=("--dist", "clip(clip(normal(0,1)))")), "top level"),
    # options
    Case("option", "k below range", _sim("--bits", "0"), "out of range", subprocess=True),
    Case("option", "k above range", _sim("--bits", "25"), "out of range"),
    Case("option", "reversed k range", _sim("--bits", "8-1"), "empty"),
    Case("option", "k not a number", _sim("--bits", "eight"), "not an integer"),
    Case("option", "h = 0", _sim("--h", "0"), "step size"),
    Case("option", "h = NaN", _sim("--h", "nan"), "step size"),
    Case("option", "h = inf", _sim("--h", "inf"), "step size"),
    Case("option", "h below float64 resolution", _sim("--h", "1e-17"), "outside"),
    Case("option", "h absurdly large", _sim("--h", "1e300"), "outside"),
    Case("option", "zero samples", _sim("--samples", "0"), "sample count"),
    Case("option", "samples not a whole number", _sim("--samples", "2.5e-1"), "whole number"),
    Case("option", "--no-save with --out", _sim("--no-save"), "contradict"),
    Case("option", "negative seed", _sim("--seed", "-1"), "negative"),
    Case("option", "seed not a number", _sim("--seed", "0xZZ"), "seed"),
    Case("option", "unknown rounding", _sim("--rounding", "bankers"), "rounding"),
    Case("option", "unknown scheme", _sim("--fd", "backward"), "scheme"),
    Case("option", "unknown method", _sim("--method", "fast"), "method"),
    Case("option", "zero threads", _sim("--threads", "0"), "thread"),
    Case("option", "unknown format", _sim("--format", "xml"), "xml"),
    Case("option", "unknown option", _sim("--frobnicate"), "no such option"),
    # quantizer specs
    Case("quantizer", "unknown quantizer", _sim("--quantizer", "lsq(4)"), "unknown quantizer", subprocess=True),
    Case("quantizer", "unknown FP format", _sim("--quantizer", "fp(e4m4,scale=1)"), "unknown format"),
    Case("quantizer", "unknown MX element", _sim("--quantizer", "mx(fp5)"), "unknown format"),
    Case("quantizer", "bits = 0", _sim("--quantizer", "absmax(0,scale=0.1)"), "bits=0"),
    Case("quantizer", "bits = 33", _sim("--quantizer", "fixed(33,0.1)"), "bits=33"),
    Case("quantizer", "bits not an integer", _sim("--quantizer", "affine(4.5,scale=0.1)"), "bits=4.5"),
    Case("quantizer", "group = 0", _sim("--quantizer", "absmax(4,group=0)"), "group=0"),
    Case("quantizer", "MX block = 0", _sim("--quantizer", "mx(fp4,block=0)"), "block=0"),
    Case("quantizer", "unknown ragged policy", _sim("--quantizer", "absmax(4,group=32,ragged=pad)"), "not a policy"),
    Case("quantizer", "step = 0", _sim("--quantizer", "fixed(4,0)"), "step=0"),
    Case("quantizer", "negative step", _sim("--quantizer", "fixed(4,-0.1)"), "step=-0.1"),
    Case("quantizer", "step below float64 resolution", _sim("--quantizer", "fixed(4,1e-9)"), "outside"),
    Case("quantizer", "NaN scale", _sim("--quantizer", "fp(e4m3,scale=nan)"), "not finite"),
    Case("quantizer", "negative scale", _sim("--quantizer", "absmax(8,scale=-1)"), "scale=-1"),
    Case("quantizer", "unknown keyword", _sim("--quantizer", "absmax(4,groups=32)"), "takes no argument"),
    Case("quantizer", "zero point out of range", _sim("--quantizer", "fixed(4,0.1,zero=100)"), "zero=100"),
    Case("quantizer", "unbalanced parenthesis", _sim("--quantizer", "fixed(4,0.1"), "expected"),
    Case("quantizer", "data-dependent scale on a parametric input", _sim("--quantizer", "absmax(4,group=32)"),
         "takes its scale from the data"),
    Case("quantizer", "rounding other than half-even for an FP grid", _sim("--quantizer", "fp(e4m3,scale=1)", "--rounding", "half-up"),
         "half-even"),
    Case("quantizer", "FP grid on DoReFa's input path", _sim("--quantizer", "fp(e4m3,scale=1)", spec=("--dist", "clip(normal(0,1))")),
         "DoReFa's grid"),
    # experiment TOML files
    Case("TOML config", "missing file", _sim("--config", "{tmp}/none.toml"), "cannot read config", subprocess=True),
    Case("TOML config", "not TOML", _sim("--config", "{tmp}/bad.toml"), "not valid TOML", _write("bad.toml", "inputs = [\n")),
    Case("TOML config", "not UTF-8", _sim("--config", "{tmp}/latin.toml"), "cannot read config",
         lambda tmp: (tmp / "latin.toml").write_bytes(b"name = '\xe9'\n")),
    Case("TOML config", "unknown key", _sim("--config", "{tmp}/key.toml"), "unknown key", _write("key.toml", "sample = 10\n")),
    Case("TOML config", "h = nan", ("simulate", "--quiet", "--config", "{tmp}/nan.toml", "--out", "{tmp}/out"), "step size",
         _write("nan.toml", "inputs = ['normal(0.5,0.15)']\nsamples = 1000\nh = nan\n")),
    Case("TOML config", "NaN in a spec", ("simulate", "--quiet", "--config", "{tmp}/spec.toml", "--out", "{tmp}/out"), "not finite",
         _write("spec.toml", "inputs = ['normal(nan,1)']\n")),
    Case("TOML config", "path in the name", ("simulate", "--quiet", "--config", "{tmp}/name.toml", "--no-save"), "plain file name",
         _write("name.toml", "name = '../escape'\ninputs = ['normal(0.5,0.15)']\n")),
    Case("TOML config", "samples as text", ("simulate", "--quiet", "--config", "{tmp}/n.toml", "--no-save"), "is not an integer",
         _write("n.toml", "inputs = ['normal(0.5,0.15)']\nsamples = '1000'\n")),
    # output directories and resume state
    Case("output dir", "--out is a file", ("simulate", *SPEC, *QUICK, "--out", "{tmp}/file"), "cannot write",
         _write("file", "x"), subprocess=True),
    Case("output dir", "--out below a file", ("simulate", *SPEC, *QUICK, "--out", "{tmp}/file/sub"), "cannot write", _write("file", "x")),
    Case("output dir", "--out locked by another run", _sim(), "another stecheck run"),
    Case("resume state", "--resume with nothing to resume", _sim("--resume"), "nothing to resume", subprocess=True),
    Case("resume state", "--resume without --out", ("simulate", *SPEC, *QUICK, "--resume"), "needs the output directory"),
    Case("resume state", "--resume with other options", _sim("--resume", "--seed", "8"), "options differ", _state),
    Case("resume state", "--resume with a corrupt plan", _sim("--resume"), "unreadable", _corrupt_state),
]


# ---------------------------------------------------------------- the other commands


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).write_bytes(data)

    return setup


def _safetensors(header: dict | bytes, data: bytes, length: int | None = None) -> Callable[[Path], None]:
    return lambda tmp: _raw_safetensors(tmp / "m.safetensors", header, data, length) and None


def _npy_object(tmp: Path) -> None:
    np.save(tmp / "m.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)


def _npz_object(tmp: Path) -> None:
    np.savez(tmp / "m.npz", w=np.ones((2, 2), np.float32), bad=np.array([{"a": 1}], dtype=object))


def _npy_truncated(tmp: Path) -> None:
    np.save(tmp / "m.npy", np.ones((64, 64), np.float32))
    data = (tmp / "m.npy").read_bytes()
    (tmp / "m.npy").write_bytes(data[: len(data) // 2])


def _onnx_escape(tmp: Path) -> None:
    (tmp / "secret.bin").write_bytes(bytes(16))
    _external_model(tmp, "../secret.bin")


def _onnx_negative_offset(tmp: Path) -> None:
    path = _external_model(tmp, "data.bin", offset="-8")
    (path.parent / "data.bin").write_bytes(bytes(16))


def _npz_rows_of_100(tmp: Path) -> None:
    np.savez(tmp / "m.npz", w=np.ones((4, 100), np.float32))


def _results(records_text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / "run").mkdir()
        (tmp / "run" / "records.json").write_text(records_text, encoding="utf-8")

    return setup


_F32 = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
WEIGHTS = ("weights", "--bits", "1", "--quiet", "--no-save")

CASES += [
    Case(".safetensors file", "empty file", (*WEIGHTS, "{tmp}/m.safetensors"), "empty", _bytes("m.safetensors", b"")),
    Case(".safetensors file", "2 GB header length", (*WEIGHTS, "{tmp}/m.safetensors"), "header length",
         _safetensors({"w": _F32}, bytes(16), 2**31), subprocess=True),
    Case(".safetensors file", "offsets beyond the file", (*WEIGHTS, "{tmp}/m.safetensors"), "do not match",
         _safetensors({"w": {**_F32, "data_offsets": [1 << 40, 16]}}, bytes(16))),
    Case(".safetensors file", "truncated data", (*WEIGHTS, "{tmp}/m.safetensors"), "truncated", _safetensors({"w": _F32}, bytes(8))),
    Case(".safetensors file", "overlapping tensors", (*WEIGHTS, "{tmp}/m.safetensors"), "overlap",
         _safetensors({"a": _F32, "b": {**_F32, "data_offsets": [8, 24]}}, bytes(24))),
    Case(".safetensors file", "absurd shape", (*WEIGHTS, "{tmp}/m.safetensors"), "overflows 64-bit",
         _safetensors({"w": {**_F32, "shape": [2**32, 2**32, 4], "data_offsets": [0, 0]}}, b"")),
    Case(".safetensors file", "fractional dimensions", (*WEIGHTS, "{tmp}/m.safetensors"), "malformed",
         _safetensors({"w": {**_F32, "shape": [2.5, 1.6]}}, bytes(16))),
    Case(".safetensors file", "100 000-deep JSON header", (*WEIGHTS, "{tmp}/m.safetensors"), "not JSON",
         _safetensors(b"[" * 100_000 + b"]" * 100_000, b"")),
    Case(".npy file", "object array (pickle)", (*WEIGHTS, "{tmp}/m.npy"), "not a valid NumPy file", _npy_object),
    Case(".npy file", "truncated data", (*WEIGHTS, "{tmp}/m.npy"), "not a valid NumPy file", _npy_truncated),
    Case(".npz file", "object member (pickle)", (*WEIGHTS, "{tmp}/m.npz"), "object array", _npz_object),
    Case("quantizer", "group not dividing a tensor's rows, no ragged policy", (*WEIGHTS, "{tmp}/m.npz", "--quantizer", "absmax(4,group=32)"),
         "ragged=last", _npz_rows_of_100, subprocess=True),
    Case("quantizer", "unknown quantizer", (*WEIGHTS, "{tmp}/m.npz", "--quantizer", "int4"), "unknown quantizer", _npz_rows_of_100),
    Case(".npz file", "not a zip archive", (*WEIGHTS, "{tmp}/m.npz"), "not a valid NumPy file", _bytes("m.npz", b"PK\x03\x04junk")),
    Case(".onnx file", "random bytes", (*WEIGHTS, "{tmp}/m.onnx"), "not a valid ONNX model", _bytes("m.onnx", bytes(range(256)) * 4)),
    Case(".onnx file", "external data outside the model directory", (*WEIGHTS, "{tmp}/model/model.onnx"), "outside the model", _onnx_escape),
    Case(".onnx file", "negative external data offset", (*WEIGHTS, "{tmp}/model/model.onnx"), "not a non-negative integer",
         _onnx_negative_offset),
    Case("source", "missing source", WEIGHTS, "missing SOURCE"),
    Case("source", "file that does not exist", (*WEIGHTS, "{tmp}/none.safetensors"), "does not exist"),
    Case("source", "unsupported file type", (*WEIGHTS, "{tmp}/m.txt"), "unsupported file type", _write("m.txt", "x")),
    Case("source", "directory without weight files", (*WEIGHTS, "{tmp}"), "holds no weight file"),
    Case("source", "unknown zoo model", (*WEIGHTS, "zoo:nosuch"), "no zoo model"),
    Case("source", "malformed Hub id", (*WEIGHTS, "hf:bad"), "not a Hub model id"),
    Case("source", "URL of an unknown protocol", (*WEIGHTS, "nosuchprotocol://bucket/model.safetensors"), "Protocol not known"),
    Case("source", "URL of a missing object", (*WEIGHTS, "file://{tmp}/none.safetensors"), "does not exist"),
    Case("source", "URL of a format other than safetensors", (*WEIGHTS, "file://{tmp}/m.npy"), "safetensors only",
         _write("m.npy", "x")),
    Case("option", "thread count 0", (*WEIGHTS, "-j", "0", "{tmp}/none.safetensors"), "positive integer"),
    Case("option", "thread count above the limit", (*WEIGHTS, "-j", "100000", "{tmp}/none.safetensors"), "above the limit"),
    Case("option", "h below float64 resolution", (*WEIGHTS, "--h", "1e-17", "{tmp}/m.npy"), "outside"),
    Case("option", "k above range", (*WEIGHTS, "--bits", "25", "{tmp}/m.npy"), "out of range"),
    Case("option", "unknown transform", (*WEIGHTS, "--transform", "log", "{tmp}/m.npy"), "unknown transform"),
    Case("option", "invalid regex", ("weights", "--quiet", "--no-save", "--include", "(", "{tmp}/m.safetensors"), "bad tensor pattern",
         _safetensors({"w": _F32}, bytes(16))),
    Case("output dir", "--out is a file", ("weights", "--quiet", "--out", "{tmp}/file", "{tmp}/m.safetensors"), "cannot write",
         lambda tmp: (_write("file", "x")(tmp), _safetensors({"w": _F32}, bytes(16))(tmp)) and None),
    Case("results dir", "does not exist", ("plot", "--quiet", "{tmp}/none"), "does not exist", subprocess=True),
    Case("results dir", "no records.json", ("plot", "--quiet", "{tmp}"), "records.json is missing"),
    Case("results dir", "records.json not JSON", ("plot", "--quiet", "{tmp}/run"), "cannot read", _results("{not json")),
    Case("results dir", "records.json not an object", ("plot", "--quiet", "{tmp}/run"), "malformed", _results("[1, 2]")),
    Case("option", "zero dpi", ("plot", "--quiet", "--dpi", "0", "{tmp}/run"), "dpi", _results('{"meta": {}, "records": []}')),
    Case("results dir", "does not exist", ("report", "{tmp}/none"), "does not exist"),
    Case("results dir", "records.json not JSON", ("report", "{tmp}/run"), "cannot read", _results("{not json"), subprocess=True),
    Case("bounds file", "missing file", ("check", "--quiet", "{tmp}/none.toml"), "cannot read bounds file"),
    Case("bounds file", "not TOML", ("check", "--quiet", "{tmp}/b.toml"), "not valid TOML", _write("b.toml", "x\n"), subprocess=True),
    Case("option", "no bounds file", ("check", "--quiet"), "missing argument"),
    Case("bounds file", "unknown quantizer in a bound", ("check", "--quiet", "{tmp}/b.toml"), "unknown quantizer",
         _write("b.toml", _QUANTIZER_BOUND.format(quantizer="int4"))),
    Case("bounds file", "data-dependent quantizer on a distribution", ("check", "--quiet", "{tmp}/b.toml"), "takes its scale from the data",
         _write("b.toml", _QUANTIZER_BOUND.format(quantizer="absmax(4,group=32)"))),
    Case("bounds file", "k other than the quantizer's bit width", ("check", "--quiet", "{tmp}/b.toml"), "has bit width 4",
         _write("b.toml", _QUANTIZER_BOUND.format(quantizer="absmax(4,scale=0.1)") + "k = 3\n")),
    Case("option", "k below range", ("audit", "--quiet", "--no-save", "--bits", "0"), "out of range", subprocess=True),
    Case("option", "zero samples", ("audit", "--quiet", "--no-save", "--samples", "0"), "sample count"),
    Case("option", "negative seed", ("audit", "--quiet", "--no-save", "--seed", "-1"), "negative"),
    Case("source", "weights file that does not exist", ("audit", "--quiet", "--no-save", "--weights", "{tmp}/none.npy"), "does not exist"),
    Case("option", "h = NaN", ("phase", "--quiet", "--no-save", "--h", "nan"), "must be in [0, 1]", subprocess=True),
    Case("option", "h beyond one step", ("phase", "--quiet", "--no-save", "--h", "2"), "must be in [0, 1]"),
    Case("option", "tolerance = NaN", ("phase", "--quiet", "--no-save", "--tolerance", "nan"), "tolerance"),
    Case("option", "unknown family", ("phase", "--quiet", "--no-save", "--family", "cauchy"), "unknown family"),
    Case("option", "empty sigma grid", ("phase", "--quiet", "--no-save", "--sigma-points", "0"), "sigma grid"),
]



# ---------------------------------------------------------------- hostile weight files and specs (loaders' hardening)


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda tmp: os.mkfifo(tmp / name)


def _link(name: str, target: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).symlink_to(target)


def _npy_shape(shape: tuple[int, ...]) -> bytes:
    import io

    header = np.lib.format.header_data_from_array_1_0(np.ones((2, 2), np.float32))
    header["shape"] = shape
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _npz_duplicate(tmp: Path) -> None:
    import io
    import warnings
    import zipfile

    buf = io.BytesIO()
    np.save(buf, np.ones((2, 2), np.float32))
    with warnings.catch_warnings(), zipfile.ZipFile(tmp / "m.npz", "w") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("w.npy", buf.getvalue())
        archive.writestr("w.npy", buf.getvalue())


def _npz_overflow(tmp: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp / "m.npz", "w") as archive:
        archive.writestr("w.npy", _npy_shape((0, 2**64)))


def _index_text(text: str) -> Callable[[Path], None]:
    return _write("model.safetensors.index.json", text)


def _dir_link_outside(tmp: Path) -> None:
    (tmp / "model").mkdir()
    _raw_safetensors(tmp / "secret.safetensors", {"w": _F32}, bytes(16))
    (tmp / "model" / "m.safetensors").symlink_to(tmp / "secret.safetensors")


def _onnx_directory_location(tmp: Path) -> None:
    path = _external_model(tmp, "sub")
    (path.parent / "sub").mkdir()


_INDEX = (*WEIGHTS, "{tmp}/model.safetensors.index.json")
_DUP_KEYS = b'{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}'

CASES += [
    Case(".safetensors file", "a FIFO (named pipe)", (*WEIGHTS, "{tmp}/m.safetensors"), "FIFO", _fifo("m.safetensors"), subprocess=True),
    Case(".npy file", "a FIFO (named pipe)", (*WEIGHTS, "{tmp}/m.npy"), "FIFO", _fifo("m.npy")),
    Case(".npz file", "a FIFO (named pipe)", (*WEIGHTS, "{tmp}/m.npz"), "FIFO", _fifo("m.npz")),
    Case(".safetensors file", "shape [0, 2^64]", (*WEIGHTS, "{tmp}/m.safetensors"), "overflows 64-bit",
         _safetensors({"w": {**_F32, "shape": [0, 2**64], "data_offsets": [0, 0]}}, b"")),
    Case(".npy file", "shape [0, 2^64]", (*WEIGHTS, "{tmp}/m.npy"), "overflows 64-bit", _bytes("m.npy", _npy_shape((0, 2**64)))),
    Case(".npz file", "member of shape [0, 2^64]", (*WEIGHTS, "{tmp}/m.npz"), "overflows 64-bit", _npz_overflow),
    Case(".npz file", "two members of the same name", (*WEIGHTS, "{tmp}/m.npz"), "two members named", _npz_duplicate),
    Case(".safetensors file", "duplicate key in the header", (*WEIGHTS, "{tmp}/m.safetensors"), "repeats the key",
         _safetensors(_DUP_KEYS, bytes(16))),
    Case(".onnx file", "external data location is a directory", (*WEIGHTS, "{tmp}/model/model.onnx"), "is a directory",
         _onnx_directory_location),
    Case(".onnx file", "external data location with a NUL", (*WEIGHTS, "{tmp}/model/model.onnx"), "NUL",
         lambda tmp: _external_model(tmp, "da\x00ta.bin") and None),
    Case("index JSON", "link to /dev/zero", _INDEX, "character device", _link("model.safetensors.index.json", "/dev/zero"),
         subprocess=True),
    Case("index JSON", "100 000-deep JSON", _INDEX, "levels deep", _index_text('{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}")),
    Case("index JSON", "shard name with a NUL", _INDEX, "not a valid file name", _index_text('{"weight_map": {"w": "a\\u0000.safetensors"}}')),
    Case("index JSON", "shard name with a lone surrogate", _INDEX, "not a valid file name",
         _index_text('{"weight_map": {"w": "a\\ud800.safetensors"}}')),
    Case("source", "directory with a link leading outside", (*WEIGHTS, "{tmp}/model"), "links outside", _dir_link_outside),
    Case("output dir", "--out ''", ("weights", "--quiet", "--out", "", "{tmp}/m.safetensors"), "--out ''",
         _safetensors({"w": _F32}, bytes(16))),
    Case("spec", "mix nested 500 deep", _sim(spec=("--dist", "mix(" + "1*mix(" * 499 + "1*normal(0,1)" + ")" * 500)), "nested more than"),
    Case("spec", "dorefa( 3000 deep", _sim(spec=("--dist", "dorefa(" * 3000)), "nested more than"),
]

def _new_format(suffix: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A valid file of an optional format (written by its own writer), then edited."""

    def setup(tmp: Path) -> None:
        from tests.weights_new_formats import BUILDERS

        (tmp / f"m{suffix}").write_bytes(edit(BUILDERS[suffix]()))

    return setup


# ---------------------------------------------------------------- issue 14: bounded knobs, typed files, seeds, result sets


def _toml(text: str) -> Callable[[Path], None]:
    return _write("c.toml", text)


def _state_file(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        _state(tmp)
        (tmp / "out" / STATE_DIR / name).write_text(text, encoding="utf-8")

    return setup


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _tflite_short_buffer(data: bytes) -> bytes:
    """The weight's 1024 data bytes announced as 1020: the buffer no longer matches the tensor's shape."""
    import struct

    from tests.weights_new_formats import _weights

    at = data.index(_weights()["w1"].tobytes()) - 4  # the data vector's length prefix
    assert data[at:at + 4] == struct.pack("<I", 1024)
    return data[:at] + struct.pack("<I", 1020) + data[at + 4:]


def _keras_without_weights(tmp: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp / "m.keras", "w") as z:
        z.writestr("config.json", "{}")


def _bn_only_onnx(tmp: Path) -> None:
    from onnx import helper, numpy_helper

    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])
    inits = [numpy_helper.from_array(np.ones(3, np.float32), n) for n in "sbmv"]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("y", 1, [1, 3, 2, 2])], initializer=inits)
    (tmp / "m.onnx").write_bytes(helper.make_model(graph).SerializeToString())


_OPTIONAL = all(importlib.util.find_spec(m) for m in ("gguf", "h5py", "tflite", "flatbuffers"))
CASES += [
    Case("option", "unknown role", (*WEIGHTS, "--role", "weight,kernel", "{tmp}/m.safetensors"), "unknown role",
         _safetensors({"w": _F32}, bytes(16))),
    Case(".onnx file", "no tensor of the default role weight", (*WEIGHTS, "{tmp}/m.onnx"), "try --role or --all", _bn_only_onnx),
]
if _OPTIONAL:
    CASES += [
        Case(".gguf file", "empty file", (*WEIGHTS, "{tmp}/m.gguf"), "empty", _bytes("m.gguf", b"")),
        Case(".gguf file", "truncated", (*WEIGHTS, "{tmp}/m.gguf"), "not a valid GGUF file", _new_format(".gguf", _half)),
        Case(".gguf file", "not GGUF", (*WEIGHTS, "{tmp}/m.gguf"), "no GGUF magic", _bytes("m.gguf", bytes(range(256)))),
        Case(".h5 file", "truncated", (*WEIGHTS, "{tmp}/m.h5"), "not a valid Keras model", _new_format(".h5", _half)),
        Case(".h5 file", "random bytes", (*WEIGHTS, "{tmp}/m.h5"), "not a valid Keras model", _bytes("m.h5", bytes(range(256)) * 4)),
        Case(".keras file", "truncated zip", (*WEIGHTS, "{tmp}/m.keras"), "not a .keras zip", _new_format(".keras", _half)),
        Case(".keras file", "no model.weights.h5", (*WEIGHTS, "{tmp}/m.keras"), "no model.weights.h5", _keras_without_weights),
        Case(".tflite file", "truncated", (*WEIGHTS, "{tmp}/m.tflite"), "not a valid TFLite model", _new_format(".tflite", _half)),
        Case(".tflite file", "no TFL3 identifier", (*WEIGHTS, "{tmp}/m.tflite"), "no TFL3", _bytes("m.tflite", bytes(64))),
        Case(".tflite file", "buffer shorter than its tensor", (*WEIGHTS, "{tmp}/m.tflite"), "bytes of data",
             _new_format(".tflite", _tflite_short_buffer), subprocess=True),
    ]


CONFIG = ("simulate", "--quiet", "--config", "{tmp}/c.toml", "--no-save")
_REC = {"dist": "uniform(0,1)", "path": "none", "k": 1, "rounding": "half-even", "fd": "forward", "h": 0.001, "samples": 10,
        "mean_n": 0.0, "mean_n_se": 0.1, "mean_fd": 1.0, "mean_fd_se": 0.1, "ste": 1.0}
_DEEP = "[" * 100_000 + "]" * 100_000
LONG_SEED = "0x" + "f" * 3600

CASES += [
    # item 7: every knob a user controls is bounded, with the reason
    Case("option", "10,000 threads", _sim("--threads", "10000"), "above the limit of 256", subprocess=True),
    Case("option", "10,000 threads", ("audit", "--quiet", "--no-save", "--threads", "10000"), "above the limit of 256"),
    Case("option", "10,000 threads", ("check", "--quiet", "--threads", "10000", "{tmp}/b.toml"), "above the limit of 256",
         _write("b.toml", "")),
    Case("option", "10,000 plot jobs", ("plot", "--quiet", "--jobs", "10000", "{tmp}/run"), "above the limit of 256",
         _results('{"meta": {}, "records": []}')),
    Case("option", "dpi 3000", ("plot", "--quiet", "--dpi", "3000", "{tmp}/run"), "dpi squared", _results('{"meta": {}, "records": []}'),
         subprocess=True),
    Case("option", "100,000 sigma points", ("phase", "--quiet", "--no-save", "--sigma-points", "100000"), "above the limit of 10000"),
    Case("option", "100,000 offset points", ("phase", "--quiet", "--no-save", "--offset-points", "100000"), "above the limit of 10000"),
    Case("option", "sigma-max 1e300", ("phase", "--quiet", "--no-save", "--sigma-max", "1e300"), "lower --sigma-max", subprocess=True),
    Case("option", "sigma-max 1e5 with 10,000 offsets", ("phase", "--quiet", "--no-save", "--sigma-max", "1e5", "--offset-points", "10000"),
         "lower --sigma-max"),
    # item 9: a run of weeks is refused unless asked for
    Case("option", "10^15 samples", _sim("--samples", "1000000000000000"), "--samples-cap", subprocess=True),
    Case("option", "zero samples cap", _sim("--samples-cap", "0"), "--samples-cap"),
    # item 14: experiment files with values of the wrong type
    Case("TOML config", "inputs = [1, 2]", CONFIG, "inputs = 1 is not a string", _toml("inputs = [1, 2]\n")),
    Case("TOML config", "inputs = {a = 1}", CONFIG, "is not a string", _toml("inputs = {a = 1}\n")),
    Case("TOML config", "name = 5", CONFIG, "name = 5 is not a string", _toml("name = 5\ninputs = ['normal(0.5,0.15)']\n")),
    Case("TOML config", "NUL in the name", CONFIG, "plain file name", _toml('name = "a\\u0000b"\ninputs = ["normal(0.5,0.15)"]\n')),
    Case("TOML config", "h = [true]", CONFIG, "h = True is not a number", _toml("inputs = ['normal(0.5,0.15)']\nh = [true]\n"),
         subprocess=True),
    Case("TOML config", "samples = true", CONFIG, "samples = True is not an integer", _toml("inputs = ['normal(0.5,0.15)']\nsamples = true\n")),
    Case("TOML config", "3,000-deep array", CONFIG, "nested too deeply", _toml("inputs = " + "[" * 3000 + "]" * 3000 + "\n"),
         subprocess=True),
    Case("bounds file", "3,000-deep array", ("check", "--quiet", "{tmp}/b.toml"), "nested too deeply",
         _write("b.toml", "x = " + "[" * 3000 + "]" * 3000 + "\n")),
    # item 15: seeds are checked before the run
    Case("option", "seed of 3,600 hex digits", _sim("--seed", LONG_SEED), "at most 256 bits", subprocess=True),
    Case("option", "seed of 260 bits", ("audit", "--quiet", "--no-save", "--seed", "0x" + "f" * 65), "at most 256 bits"),
    Case("option", "seed of 100 hex digits", ("phase", "--quiet", "--no-save", "--seed", "0x" + "f" * 100), "at most 256 bits"),
    # item 16: results and resume state with values of the wrong type
    Case("results dir", "k is a list", ("plot", "--quiet", "{tmp}/run"), "k = [1], which is not an integer",
         _results(json.dumps({"meta": {"command": "simulate"}, "records": [{**_REC, "k": [1]}]})), subprocess=True),
    Case("results dir", "mean_n is text", ("report", "{tmp}/run"), "mean_n = \"abc\", which is not a number",
         _results(json.dumps({"meta": {"command": "simulate"}, "records": [{**_REC, "mean_n": "abc"}]}))),
    Case("results dir", "h is true", ("plot", "--quiet", "{tmp}/run"), "h = true, which is not a number",
         _results(json.dumps({"meta": {"command": "simulate"}, "records": [{**_REC, "h": True}]}))),
    Case("results dir", "a record is a number", ("report", "{tmp}/run"), "record 0 is not an object",
         _results(json.dumps({"meta": {"command": "weights"}, "records": [5]}))),
    Case("results dir", "100,000-deep records.json", ("report", "{tmp}/run"), "nested too deeply", _results(_DEEP)),
    Case("resume state", "--resume with a finished input whose meta is a list", _sim("--resume", "--seed", "7"), "does not hold input",
         _state_file("input-0000.json", '{"meta": [], "records": []}')),
    Case("resume state", "--resume with a record of the wrong type", _sim("--resume", "--seed", "7"), "which is not an integer",
         _state_file("input-0000.json", json.dumps({"meta": {"input": "normal(0.5,0.15)"}, "records": [{"dist": "normal(0.5,0.15)", "k": "1"}]}))),
    Case("resume state", "--resume with a seed that is not a number", _sim("--resume"), "malformed",
         _state_file("plan.json", '{"seed": "abc", "config": {}}')),
    Case("resume state", "--resume with a 100,000-deep state file", _sim("--resume"), "nested too deeply", _state_file("plan.json", _DEEP)),
    # items 1-3: an output that cannot be replaced as a whole
    Case("output dir", "--out is the current directory", _sim(spec=tuple(SPEC))[:-2] + ("--out", "."), "current directory",
         subprocess=True),
    Case("output dir", "--out is a parent of the current directory", ("audit", "--quiet", "--out", ".."), "current directory"),
    Case("output dir", "--out locked by another run", ("audit", "--quiet", "--samples", "1000", "--out", "{tmp}/out"), "another stecheck run"),
    Case("output dir", "--out locked by another run", ("phase", "--quiet", "--out", "{tmp}/out"), "another stecheck run"),
    Case("output dir", "--out locked by another run", ("check", "--quiet", "--out", "{tmp}/out", "{tmp}/b.toml"), "another stecheck run",
         _write("b.toml", "[[bound]]\nname = 'E[n] = 0'\nsource = 'uniform(0,1)'\nsamples = 1000\nseed = 1\nk = 1\nh = 1e-3\n"
                "statistic = 'mean_n'\ntarget = 0.0\nwithin_se = 5\n")),
]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _clean_message(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "$TMP")
    return re.sub(r"pid \d+", "pid N", text)


def _run_in_process(case: Case, tmp: Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``case`` through CliRunner (its setup already done)."""
    runner = CliRunner()
    if "locked" in case.what:  # the lock of --out {tmp}/out, held by this process (it lies beside the output)
        with out_dir_lock(tmp / "out"):
            result = invoke(runner, *case.args(tmp))
    else:
        result = invoke(runner, *case.args(tmp))
    return result.exit_code, result.stdout, result.stderr


def _assert_one_line_error(case: Case, code: int, stdout: str, stderr: str, before: set[str], tmp: Path) -> None:
    assert code == 2, (case.what, code, stderr)
    assert stdout == "", case.what
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (case.what, stderr)
    assert "Traceback" not in stderr
    assert case.needle.lower() in lines[0].lower(), (case.what, lines[0])
    assert _files(tmp) - before <= {"out"}, case.what  # at most an empty --out directory, never a partial file


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.what}" for c in CASES])
def test_bad_input_in_process(case: Case, tmp_path: Path) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    before = _files(tmp_path)
    code, stdout, stderr = _run_in_process(case, tmp_path)
    _assert_one_line_error(case, code, stdout, stderr, before, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.subprocess], ids=[f"{c.kind}: {c.what}" for c in CASES if c.subprocess])
def test_bad_input_in_a_real_process(case: Case, tmp_path: Path) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    before = _files(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "stecheck", *case.args(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    _assert_one_line_error(case, proc.returncode, proc.stdout, proc.stderr, before, tmp_path)


@pytest.mark.slow
def test_lock_held_by_a_real_process_is_refused(tmp_path: Path) -> None:
    """A second process gets a one-line error naming the holder's pid while the first holds --out."""
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from stecheck.safety import out_dir_lock\n"
         "with out_dir_lock(Path(sys.argv[1])):\n    print('locked', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = subprocess.run([sys.executable, "-m", "stecheck", "simulate", *SPEC, *QUICK, "--out", str(out)],
                              capture_output=True, text=True, timeout=120)
    finally:
        holder.communicate("", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"error: another stecheck run is writing to {str(out)!r} (pid {holder.pid}); wait for it to finish or choose another --out\n"
    assert sorted(p.name for p in out.iterdir()) == []  # holder removed its lock file; the loser wrote nothing


# ---------------------------------------------------------------- docs/bad-inputs.md


def render_table(tmp_root: Path) -> str:
    """docs/bad-inputs.md: every case with the outcome it produces now."""
    lines = [
        "# Bad inputs tried, and what stecheck answers",
        "",
        "Generated by `tests/test_reliability_cli.py` from the cases it runs (exit code and the stderr line",
        "as produced; `$TMP` is the test's scratch directory). Regenerate with",
        "`STECHECK_WRITE_DOCS=1 python -m pytest tests/test_reliability_cli.py`; CI fails when it is stale.",
        "Every case also asserts: stdout empty, exactly one stderr line, no partial file in `--out`.",
        "Cases marked *subprocess* are run in a real process as well as through CliRunner.",
        "",
        "| command | input kind | bad input | command line | exit | stderr |",
        "|---|---|---|---|---|---|",
    ]
    for index, case in enumerate(CASES):
        tmp = tmp_root / f"case{index}"
        tmp.mkdir()
        if case.setup is not None:
            case.setup(tmp)
        code, _stdout, stderr = _run_in_process(case, tmp)
        shown_args = (a if len(a) <= 120 else f"{a[:60]}... ({len(a)} characters)" for a in case.argv[1:])
        argv = " ".join(json.dumps(a) if (not a or any(c in a for c in " ()*,\x01")) else a for a in shown_args)
        shown = _clean_message(stderr.strip(), tmp).replace("|", "\\|")
        what = case.what + (" (*subprocess*)" if case.subprocess else "")
        cmd = argv.replace("{tmp}", "$TMP").replace("|", "\\|").replace("\\u0001", "\\x01")
        lines.append(f"| {case.argv[0]} | {case.kind} | {what} | `{cmd}` | {code} | {shown} |")
    return "\n".join(lines) + "\n"


def test_bad_inputs_doc_is_generated_from_the_cases(tmp_path: Path) -> None:
    fresh = render_table(tmp_path)
    if os.environ.get("STECHECK_WRITE_DOCS") == "1":
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(fresh, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == fresh, "docs/bad-inputs.md is stale: rerun with STECHECK_WRITE_DOCS=1"
