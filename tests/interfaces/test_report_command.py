"""`activation-grader report DIR` (and `similarity DIR`): rebuilds the class report of an output directory, and refuses,
writing nothing, anything else (a folder of submissions passed by mistake must stay as it was)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES

CLI = [sys.executable, "-m", "grader"]


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(path.rglob("*"))}


def report(path: Path, command: str = "report") -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, command, str(path)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", ["report", "similarity"])
def test_a_folder_of_submissions_is_refused_with_a_message_and_left_as_it_was(tmp_path, command):
    subs = tmp_path / "subs"
    shutil.copytree(SAMPLES, subs)
    before = tree(subs)
    proc = report(subs, command)
    assert proc.returncode == 1
    assert "has no results/*.json" in proc.stderr and "Nothing was written" in proc.stderr
    assert f"activation-grader grade {subs} --out out/" in proc.stderr  # what to run instead
    assert tree(subs) == before


@pytest.mark.parametrize("command", ["report", "similarity"])
@pytest.mark.parametrize("layout", ["empty", "empty results/", "results/ without json"])
def test_a_directory_without_results_is_refused_and_nothing_is_written(tmp_path, layout, command):
    out = tmp_path / "out"
    out.mkdir()
    if layout != "empty":
        (out / "results").mkdir()
    if layout == "results/ without json":
        (out / "results" / "notes.txt").write_text("not a result")
    before = tree(out)
    proc = report(out, command)
    assert proc.returncode == 1, proc.stdout
    assert "nothing to report on" in proc.stderr
    assert "grade" not in proc.stderr.split("Nothing was written.")[1]  # no notebooks: no hint to grade them
    assert tree(out) == before


def test_an_output_directory_gets_its_report_rebuilt(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, "grade", str(SAMPLES / "alice_correct.ipynb"), str(SAMPLES / "carol_blank.ipynb"),
                           "--out", str(out), "--no-report", "-q"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "report.html").exists()
    proc = report(out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"Wrote {out / 'report.html'}"
    assert "alice_correct" in (out / "report.html").read_text()
    assert (out / "summary.csv").is_file()
