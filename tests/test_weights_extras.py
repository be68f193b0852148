"""Each optional format names its extra when its reader package is missing: one line, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import invoke


@pytest.mark.parametrize("suffix,module,extra", [
    (".gguf", "gguf", "stecheck[gguf]"), (".h5", "h5py", "stecheck[keras]"), (".keras", "h5py", "stecheck[keras]"),
    (".tflite", "tflite", "stecheck[tflite]"),
])
def test_missing_reader_package_gives_the_install_hint(runner, tmp_path: Path, monkeypatch, suffix: str, module: str, extra: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"x" * 64)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    result = invoke(runner, "weights", str(path), "--no-save", "-q")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"pip install '{extra}'" in lines[0]
