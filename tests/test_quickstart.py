"""The README's Quick start works in order, as a new user runs it, and nothing is written inside the
installed package at run time (numba's compiled functions go to the per-user cache)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stecheck

ROOT = Path(__file__).resolve().parents[1]
NESTED = "STECHECK_QUICKSTART_NESTED"


def _quickstart_commands() -> list[str]:
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / ".ci" / "quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.quickstart_commands(ROOT / "README.md")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this test run's virtualenv, Python path or caches."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NUMBA_CACHE_DIR", "STECHECK_CACHE")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix))
    env.update(extra)
    return env


def test_the_quickstart_commands_are_read_from_the_readme() -> None:
    commands = _quickstart_commands()
    assert commands == ["pip install . && stecheck simulate", "pip install -e '.[test]' && python -m pytest"]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(NESTED) == "1", reason="already inside the Quick start test's own test run")
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to clone the repository")
def test_quickstart_in_order_in_a_fresh_clone_and_virtualenv(tmp_path: Path) -> None:
    clone, venv, elsewhere = tmp_path / "clone", tmp_path / "venv", tmp_path / "elsewhere"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = _clean_env(
        VIRTUAL_ENV=str(venv), PATH=f"{bin_dir}{os.pathsep}{_clean_env()['PATH']}",
        PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_PROGRESS_BAR="off",
        HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home" / ".cache"),
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        # the nested test suite runs the fast subset (.ci/run runs every test) and not this test again
        PYTEST_ADDOPTS='-m "not slow" -q -p no:cacheprovider', **{NESTED: "1"},
    )
    (tmp_path / "home").mkdir()
    for command in _quickstart_commands():  # exactly as written in the README, in order, in one virtualenv
        done = subprocess.run(command, shell=True, executable="/bin/bash", cwd=clone, env=env, capture_output=True,
                              text=True, timeout=3600)
        assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    elsewhere.mkdir()
    done = subprocess.run(["stecheck", "simulate", "-d", "uniform(0,1)", "-k", "2", "--no-save"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "uniform(0,1)" in done.stdout and "Traceback" not in done.stderr
    assert list(elsewhere.iterdir()) == []
    # the first command's install left nothing behind that shadows the editable one
    purelib = subprocess.run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert not (Path(purelib) / "stecheck").exists(), sorted(str(p) for p in (Path(purelib) / "stecheck").rglob("*"))
    assert list((tmp_path / "home" / ".cache" / "stecheck" / "numba").rglob("*.nbi"))  # the compiled cache went here


def test_a_run_leaves_no_file_inside_the_installed_package(tmp_path: Path) -> None:
    package = Path(stecheck.__file__).resolve().parent

    def listing() -> set[str]:
        return {str(p.relative_to(package)) for p in package.rglob("*") if not p.name.endswith(".pyc")}

    before = listing()
    cache = tmp_path / "cache"
    env = _clean_env(STECHECK_CACHE=str(cache), PYTHONDONTWRITEBYTECODE="1", PATH=os.environ.get("PATH", ""))
    code = ("import stecheck; stecheck.simulate('normal(0.5,0.15)', bits=2, h=1e-3, fd='forward', samples=2000); "
            "import stecheck.core.exact as e; e.exact_fd_table")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert listing() == before
    assert not [p for p in package.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert list((cache / "numba").rglob("*.nbi")), "numba's cache index should be in the per-user cache"


def test_numba_cache_dir_wins_when_set(tmp_path: Path) -> None:
    env = _clean_env(NUMBA_CACHE_DIR=str(tmp_path / "mine"), STECHECK_CACHE=str(tmp_path / "cache"), PATH=os.environ.get("PATH", ""))
    code = "import stecheck.core.fastscan, numba.core.config as c; print(c.CACHE_DIR)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=True)
    assert done.stdout.strip() == str(tmp_path / "mine")
    del env["NUMBA_CACHE_DIR"]
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=True)
    assert done.stdout.strip() == str(tmp_path / "cache" / "numba")


def test_numba_imported_first_still_caches_outside_the_package(tmp_path: Path) -> None:
    env = _clean_env(STECHECK_CACHE=str(tmp_path / "cache"), PATH=os.environ.get("PATH", ""))
    code = "import numba, numba.core.config as c; import stecheck.core.fastscan; print(c.CACHE_DIR)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=True)
    assert done.stdout.strip() == str(tmp_path / "cache" / "numba")

