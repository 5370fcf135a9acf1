"""`activation-grader gradescope run ZIP SUBMISSION`: the autograder zip as Gradescope runs it, locally.

On the samples it gives, question by question, the scores of `activation-grader grade`; it copies
results.json out and says where; a zip that is not an autograder, or whose members point outside
its folder, is refused before any container starts.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import SAMPLES
from test_docker_otter import dist  # noqa: F401  (the built zip, a fixture)

BIN = Path(sys.executable).parent
QUESTIONS = [f"q{i}" for i in range(1, 11)]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "activation-grader"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=1200)


@pytest.mark.docker
@pytest.mark.otter
def test_gradescope_run_gives_the_scores_of_grade_on_the_samples(dist, tmp_path):
    samples = sorted(SAMPLES.glob("*.ipynb"))
    assert len(samples) >= 4
    engine = _cli("grade", str(SAMPLES), "--out", str(tmp_path / "engine"), "-q")
    assert engine.returncode == 0, engine.stdout + engine.stderr
    with open(tmp_path / "engine" / "final_grades.csv", newline="") as f:
        expected = {Path(r["file"]).name: {q: float(r[q]) for q in QUESTIONS} for r in csv.DictReader(f)
                    if r["file"] != "points-per-question"}
    totals = []
    for sample in samples:
        out = tmp_path / sample.stem
        proc = _cli("gradescope", "run", str(dist["autograder_zip"]), str(sample), "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        results = json.loads((out / "results.json").read_text())
        assert f"results.json: {out / 'results.json'}" in proc.stdout.splitlines()
        if "damaged" in sample.name:  # no questions to compare: a submission-level failure, 0 points
            assert results["score"] == 0 and "could not be graded" in results["output"], results["output"]
            assert sum(expected[sample.name].values()) == 0
            continue
        got = {t["name"].split(":")[0]: t["score"] for t in results["tests"]}
        assert got == pytest.approx(expected[sample.name]), sample.name
        assert f"Total: {sum(got.values()):g} / 100" in proc.stdout
        assert (out / "run_autograder.log").exists() and (out / "setup.log").exists()
        totals.append(sum(got.values()))
    assert len(set(totals)) >= 2  # the samples differ: the comparison is not of one score


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    bogus = tmp_path / "autograder.zip"
    bogus.write_text("not a zip")
    sub = tmp_path / "activations.ipynb"
    sub.write_text("{}")
    proc = _cli("gradescope", "run", str(bogus), str(sub), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "is not an autograder zip" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("member, why", [("../escape.txt", "points outside"), ("/etc/evil", "points outside"),
                                         (None, "has no run_autograder")])
def test_a_zip_with_a_bad_member_is_refused(tmp_path, member, why):
    from grader.interfaces.gradescope_local import GradescopeRunError, _zip_members

    path = tmp_path / "autograder.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("setup.sh", "true\n")
        if member is not None:
            zf.writestr("run_autograder", "true\n")
            zf.writestr(member, "x")
    with pytest.raises(GradescopeRunError, match=why):
        _zip_members(path)


def test_a_symlink_member_is_refused(tmp_path):
    from grader.interfaces.gradescope_local import GradescopeRunError, _zip_members

    path = tmp_path / "autograder.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("setup.sh", "true\n")
        zf.writestr("run_autograder", "true\n")
        link = zipfile.ZipInfo("files/link")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(GradescopeRunError, match="not a regular file"):
        _zip_members(path)


@pytest.mark.docker
@pytest.mark.otter
def test_the_documented_gradescope_run_works_as_shown(dist, tmp_path):
    """docs/otter.md's block, run as it stands in a scratch directory holding the built zip and the samples."""
    from conftest import ROOT

    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", (ROOT / "docs" / "otter.md").read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "activation-grader gradescope run" in b]
    zip_dir = tmp_path / "assignments" / "dist" / "autograder"
    zip_dir.mkdir(parents=True)
    shutil.copy(dist["autograder_zip"], zip_dir / "activations-autograder.zip")
    shutil.copytree(SAMPLES, tmp_path / "samples")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "gradescope-results" / "results.json").read_text())
    assert "results.json: gradescope-results/results.json" in proc.stdout
    total = sum(t["score"] for t in results["tests"])  # (Otter writes no top-level score with these settings)
    assert 0 < total < 100 and f"Total: {total:g} / 100" in proc.stdout
