"""The check command: exit codes 0/1/2, table, JSON and JUnit outputs, --out, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stecheck.claims.check.evaluate import CHECK_FIELDS
from tests.conftest import invoke

HEADER = """
[defaults]
source = "normal(0.5,0.15)"
samples = 20000
seed = "0x9e3779b97f4a7c15f39cc0605cedc834"
h = 1e-3
"""

PASSING = HEADER + """
[[bound]]
name = "E[n] = 0"
k = "1-2"
statistic = "mean_n"
target = 0.0
within_se = 5

[[bound]]
name = "k = 1 is a counterexample"
k = 1
statistic = "exact_mean_fd"
interval = [0.5, 1.5]
expect = "outside"
"""

FAILING = PASSING + """
[[bound]]
name = "STE at k = 1"
k = 1
statistic = "mean_fd"
target = 1.0
within_se = 5
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("pass", PASSING), ("fail", FAILING)):
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def test_all_bounds_hold_exit_0_with_a_table(runner, files) -> None:
    result = invoke(runner, "check", str(files["pass"]), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert "3 of 3 bounds hold" in result.stdout
    assert "within 5 SE of 0" in result.stdout and "outside [0.5, 1.5]" in result.stdout
    assert "FAIL" not in result.stdout


def test_a_failing_bound_exits_1_and_is_shown(runner, files) -> None:
    result = invoke(runner, "check", str(files["fail"]), "--quiet")
    assert result.exit_code == 1
    assert "3 of 4 bounds hold, 1 failed" in result.stdout
    assert "FAIL" in result.stdout


def test_json_records_follow_the_contract_and_record_the_seeds(runner, files) -> None:
    result = invoke(runner, "check", str(files["fail"]), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"meta", "records"}
    assert [list(rec) for rec in data["records"]] == [list(CHECK_FIELDS)] * 4
    assert [rec["passed"] for rec in data["records"]] == [True, True, True, False]
    assert data["meta"]["passed"] is False and data["meta"]["command"] == "check"
    seed = str(0x9E3779B97F4A7C15F39CC0605CEDC834)
    assert {run["seed"] for run in data["meta"]["runs"] if run["method"] != "exact"} == {seed}
    assert all(rec["seed"] == seed for rec in data["records"] if rec["statistic"] != "exact_mean_fd")


def test_same_file_same_verdicts(runner, files) -> None:
    runs = [json.loads(invoke(runner, "check", str(files["fail"]), "--format", "json").stdout)["records"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_junit_xml_to_a_file_with_the_table_on_stdout(runner, files, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "check.xml"
    result = invoke(runner, "check", str(files["pass"]), str(files["fail"]), "--format", "junit", "--out", str(out))
    assert result.exit_code == 1
    assert "6 of 7 bounds hold, 1 failed" in result.stdout and f"wrote {out}" in result.stdout
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("7", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(files["pass"]), str(files["fail"])]
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1
    case = root.find(".//testcase[failure]")
    assert case is not None and case.get("name") == "STE at k = 1 [k=1]" and case.get("classname") == "fail"
    assert "not within 5 SE of 1" in failures[0].get("message", "")
    assert "seed=" in (failures[0].text or "")


def test_markdown_output(runner, files) -> None:
    result = invoke(runner, "check", str(files["pass"]), "--format", "md")
    assert result.exit_code == 0
    assert "| bound | source | k | statistic | value | SE | condition | verdict |" in result.stdout
    assert result.stdout.count("| pass |") == 3


ERRORS = [
    ("typo", 'statistic = "mean_m"', "bound 'E[n] = 0', field 'statistic': unknown statistic 'mean_m'"),
    ("missing", "", "bound 'E[n] = 0', field 'statistic': missing field"),
    ("interval", "interval = [2.0, 1.0]", "bound 'E[n] = 0', field 'interval': impossible interval: lo 2 > hi 1"),
]


@pytest.mark.parametrize(("kind", "line", "message"), ERRORS)
def test_a_bad_bounds_file_is_one_line_exit_2_and_no_output(runner, tmp_path: Path, kind: str, line: str, message: str) -> None:
    if kind == "interval":
        body = f'[[bound]]\nname = "E[n] = 0"\nk = 1\nstatistic = "mean_n"\n{line}\n'
    else:
        body = f'[[bound]]\nname = "E[n] = 0"\nk = 1\n{line}\ntarget = 0.0\nwithin_se = 5\n'
    path = tmp_path / "bad.toml"
    path.write_text(HEADER + body, encoding="utf-8")
    out = tmp_path / "out.xml"
    result = invoke(runner, "check", str(path), "--format", "junit", "--out", str(out))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: {message}")
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()


def test_usage_and_file_errors_exit_2(runner, files, tmp_path: Path) -> None:
    missing = invoke(runner, "check", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and missing.stderr.startswith("error: cannot read bounds file")
    assert invoke(runner, "check").exit_code == 2
    assert invoke(runner, "check", str(files["pass"]), "--format", "xml").exit_code == 2
    directory = invoke(runner, "check", str(files["pass"]), "--out", str(tmp_path))
    assert directory.exit_code == 2 and "is a directory" in directory.stderr
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    unwritable = invoke(runner, "check", str(files["pass"]), "--out", str(blocked / "x.xml"))
    assert unwritable.exit_code == 2 and len(unwritable.stderr.splitlines()) == 1
    assert invoke(runner, "check", str(files["pass"]), "--threads", "0").exit_code == 2


def test_threads_change_no_verdict(runner, files) -> None:
    one, two = (json.loads(invoke(runner, "check", str(files["fail"]), "-f", "json", "-j", j).stdout)["records"] for j in ("1", "2"))
    assert one == two


def test_a_real_process_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(HEADER + '[[bound]]\nname = "x"\nk = 1\nstatistic = "mean_n"\ninterval = [1.0, 0.0]\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "stecheck", "check", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: {path}: bound 'x', field 'interval': impossible interval: lo 1 > hi 0\n"
