"""The Otter autograder zip in Docker: Gradescope's /autograder layout, and the real `otter grade`.

Both use the project's image ``activation-grader:latest`` as it is. ``otter grade`` runs as
docs/otter.md shows it: the test takes the documented shell block (``activation-grader docker
install-buildx-shim``, then ``otter grade ... --image activation-grader:latest --no-network``) and
runs it in a scratch directory, changing only the assignment name (``-n``, so that Otter's image,
``otter-grade:<unique name>``, is this test's and is removed afterwards) and pointing
``DOCKER_CONFIG`` at a temporary directory (the shim is installed there, never into the machine's
docker configuration). It grades four notebooks whose final_grades.csv must agree with
``activation-grader grade`` on the same files. Like every Docker test these fail in CI without
Docker and skip elsewhere (conftest.py).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.otter]

BUILD = ROOT / "assignments" / "build.py"
DOCS = ROOT / "docs" / "otter.md"
IMAGE = "activation-grader:latest"
QUESTIONS = [f"q{i}" for i in range(1, 11)]

#: What Gradescope writes next to the submission.
METADATA = {"id": 1, "created_at": "2026-11-25T00:00:00+00:00", "assignment": {"title": "activations"},
            "users": [{"email": "student@example.edu", "name": "A Student"}], "previous_submissions": []}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location("assignment_build", BUILD)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.build(tmp_path_factory.mktemp("dist"), run_tests=False)


def _naive_softmax(solution: Path, dst: Path) -> Path:
    """The solution with one mistake: softmax without subtracting the maximum (q4 only)."""
    nb = json.loads(solution.read_text())
    hits = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        new = src.replace("np.exp(z - np.max(z, axis=axis, keepdims=True))", "np.exp(z)")
        hits += new != src
        cell["source"] = new
    assert hits == 1
    dst.write_text(json.dumps(nb))
    return dst


# --- Gradescope's layout: setup.sh, then /autograder/run_autograder --------------------------------
def run_in_image(zip_path: Path, submission: dict[str, bytes], metadata: bytes | None) -> tuple[dict, str]:
    """The zip as Gradescope runs it (grader.interfaces.gradescope_local, as `activation-grader gradescope run`),
    with no network; returns results.json and setup.sh's log.

    ``metadata`` None leaves submission_metadata.json as `otter grade`'s image does (empty)."""
    import tempfile

    from grader.interfaces.gradescope_local import run_zip

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, data in submission.items():
            (Path(tmp) / name).write_bytes(data)
            files.append(Path(tmp) / name)
        run = run_zip(zip_path, files, Path(tmp) / "out", image=IMAGE, metadata=b"" if metadata is None else metadata,
                      timeout=600)
        return run.results, (Path(tmp) / "out" / "setup.log").read_text()


@pytest.mark.parametrize("notebook, expected, metadata", [("solution", 100, json.dumps(METADATA).encode()),
                                                          ("student", 0, None)])
def test_otter_zip_grades_in_the_image_like_the_engine(dist, notebook, expected, metadata, tmp_path):
    from grader.pipeline import batch
    from grader.pipeline.tasks import Options

    submission = tmp_path / "activations.ipynb"
    submission.write_bytes(dist[notebook].read_bytes())
    results, log = run_in_image(dist["autograder_zip"], {"activations.ipynb": submission.read_bytes()}, metadata)
    engine = batch.run([submission], tmp_path / "out", Options(), progress=False).records[0]
    total = sum(t["score"] for t in results["tests"])
    assert total == pytest.approx(engine.score) == expected
    assert "activation-grader" in results["output"]  # the engine's summary: the plugin graded it
    assert "nothing to install" in log  # setup.sh on the project's image: no download, no LaTeX
    assert [t["name"].split(":")[0] for t in results["tests"]] == QUESTIONS
    assert all(t["status"] in ("passed", "failed") and t["output_format"] == "text" for t in results["tests"])


def test_a_submission_that_is_not_json_gets_a_result_in_the_image(dist):
    results, _ = run_in_image(dist["autograder_zip"], {"activations.ipynb": b"<html>not a notebook</html>"}, None)
    assert results["score"] == 0 and "not valid JSON" in results["output"]
    assert results["tests"][0]["status"] == "failed"


# --- the real `otter grade` --------------------------------------------------------------------------
def documented_otter_grade() -> str:
    """The shell block of docs/otter.md that installs the buildx shim and runs `otter grade` offline."""
    import re

    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if "install-buildx-shim" in b and "otter grade" in b and "--no-network" in b]
    assert len(found) == 1, f"docs/otter.md must show the offline `otter grade` once, found {len(found)}"
    return found[0]


def _grades(csv_path: Path) -> dict[str, dict[str, float]]:
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {row["file"]: {k: float(v) for k, v in row.items() if k in QUESTIONS} for row in rows}


@pytest.fixture(scope="module")
def otter_grade(dist, tmp_path_factory) -> dict:
    """`otter grade` on the solution, the blank notebook and a one-mistake notebook, with the project's image."""
    from grader.sandbox.docker import docker_client

    if shutil.which("docker") is None:  # otter grade drives the docker CLI, not the SDK
        if os.environ.get("CI"):
            pytest.fail("otter grade needs the docker CLI on PATH: CI must install it (docker/ci-setup.sh does)")
        pytest.skip("no docker CLI on PATH (in CI this fails instead)")

    tmp = tmp_path_factory.mktemp("otter-grade")
    subs = tmp / "submissions"
    subs.mkdir()
    shutil.copy(dist["solution"], subs / "solution.ipynb")
    shutil.copy(dist["student"], subs / "blank.ipynb")
    _naive_softmax(dist["solution"], subs / "one_wrong.ipynb")
    (subs / "broken.ipynb").write_bytes(b"<html>a download page, not a notebook</html>")
    name = f"agtest-{uuid.uuid4().hex[:10]}"  # Otter tags its image otter-grade:<name>
    script = documented_otter_grade()
    assert script.count("-n activations ") == 1
    script = script.replace("-n activations ", f"-n {name} ")
    zip_dir = tmp / "assignments" / "dist" / "autograder"
    zip_dir.mkdir(parents=True)
    shutil.copy(dist["autograder_zip"], zip_dir / "activations-autograder.zip")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp / "docker-config"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = tmp / "grades"
    try:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp, env=env, capture_output=True,
                              text=True, timeout=1800)
    finally:
        try:
            docker_client().images.remove(f"otter-grade:{name}", force=True)
        except Exception:  # never built
            pass
    assert proc.returncode == 0 and (out / "final_grades.csv").exists(), (
        f"otter grade failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    engine_out = tmp / "engine"
    engine = subprocess.run([str(Path(sys.executable).parent / "activation-grader"), "grade", str(subs), "--out",
                             str(engine_out)], capture_output=True, text=True, timeout=900)
    assert engine.returncode == 0, engine.stdout[-3000:] + engine.stderr[-3000:]
    with open(out / "final_grades.csv", newline="") as f:
        status = {row["file"]: row["grading_status"] for row in csv.DictReader(f)}
    return {"otter": _grades(out / "final_grades.csv"), "engine": _grades(engine_out / "final_grades.csv"),
            "status": status, "log": proc.stdout + proc.stderr}


def test_otter_grade_scores_solution_100_and_blank_0(otter_grade):
    grades = otter_grade["otter"]
    assert sum(grades["solution.ipynb"].values()) == 100
    assert sum(grades["blank.ipynb"].values()) == 0


def test_otter_grade_reports_why_a_broken_notebook_got_0(otter_grade):
    assert sum(otter_grade["otter"]["broken.ipynb"].values()) == 0
    assert "not valid JSON" in otter_grade["status"]["broken.ipynb"]
    assert otter_grade["status"]["solution.ipynb"] == "Completed"


def test_otter_grade_one_mistake_loses_exactly_that_question(otter_grade):
    grades = otter_grade["otter"]
    full = grades["points-per-question"]
    wrong = grades["one_wrong.ipynb"]
    assert wrong["q4"] < full["q4"]
    assert {q: s for q, s in wrong.items() if q != "q4"} == {q: s for q, s in full.items() if q != "q4"}


def test_otter_grade_final_grades_match_activation_grader_grade(otter_grade):
    otter, engine = otter_grade["otter"], otter_grade["engine"]
    for notebook in ("solution.ipynb", "blank.ipynb", "one_wrong.ipynb"):
        assert otter[notebook] == pytest.approx(engine[notebook]), notebook


def test_the_documented_buildx_step_ran(otter_grade):
    """The shim step of the documented block either installed the stand-in (Debian's docker.io) or
    found a real buildx; either way it says which."""
    log = otter_grade["log"]
    assert ("installed the buildx stand-in" in log) or ("docker buildx is already available" in log), log[-2000:]
