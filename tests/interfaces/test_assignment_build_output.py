"""`make assignment` (assignments/build.py) tells the instructor what it checked, and what it did not,
besides the files it wrote."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

BUILD = [sys.executable, str(ROOT / "assignments" / "build.py")]


def _build(tmp_path, *args: str) -> list[str]:
    proc = subprocess.run([*BUILD, "--out", str(tmp_path / "dist"), *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.otter
def test_the_build_says_the_solutions_scored_full_marks_and_the_master_matches_the_exercises(tmp_path):
    lines = _build(tmp_path)
    assert lines[0].startswith("checked: the master's 10 questions and their points match docs/contract.md "
                               "(100 points) and its hidden tests are the ")
    assert lines[1] == "checked: the solutions notebook scores 100/100 through the autograder zip (otter assign ran it)"
    assert lines[2] == "built (sha256 prefix, file, what for):"
    assert [line.split()[1] for line in lines[3:]] == [  # relative to where the command ran
        "dist/student/activations.ipynb", "dist/autograder/activations-autograder.zip",
        "dist/autograder/activations-solution.ipynb"]


@pytest.mark.otter
def test_without_the_test_run_the_build_says_it_did_not_check_the_solutions(tmp_path):
    lines = _build(tmp_path, "--no-run-tests")
    assert lines[1] == "not checked: that the solutions notebook scores full marks (--no-run-tests)"
    assert not any("100/100" in line for line in lines)
