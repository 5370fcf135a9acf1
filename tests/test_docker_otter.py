"""The Otter autograder zip runs inside the grading image, in Gradescope's /autograder layout."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.otter]

BUILD = ROOT / "assignments" / "build.py"


#: What Gradescope writes next to the submission.
METADATA = {"id": 1, "created_at": "2026-11-25T00:00:00+00:00", "assignment": {"title": "activations"},
            "users": [{"email": "student@example.edu", "name": "A Student"}], "previous_submissions": []}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location("assignment_build", BUILD)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.build(tmp_path_factory.mktemp("dist"), run_tests=False)


def run_in_image(zip_path: Path, submission: Path) -> dict:
    """Unpack the zip into /autograder/source, the notebook into /autograder/submission, run Otter."""
    from grader.docker_sandbox import docker_client

    client = docker_client()
    script = ("set -e; mkdir -p /autograder/source /autograder/submission /autograder/results; "
              "cd /autograder/source && python -m zipfile -e /in/autograder.zip . && "
              "cp /in/activations.ipynb /autograder/submission/ && cp /in/submission_metadata.json /autograder/ && python /autograder/source/run_otter.py "
              ">/autograder/log.txt 2>&1 || (cat /autograder/log.txt; exit 1); "
              "cat /autograder/results/results.json")
    container = client.containers.create("activation-grader:latest", ["bash", "-c", script], network_mode="none",
                                         labels={"activation-grader": "test"})
    try:
        container.put_archive("/", _tar({"in/autograder.zip": zip_path.read_bytes(),
                                         "in/activations.ipynb": submission.read_bytes(),
                                         "in/submission_metadata.json": json.dumps(METADATA).encode()}))
        container.start()
        status = container.wait(timeout=600)
        output = container.logs().decode()
        assert status["StatusCode"] == 0, output[-4000:]
        return json.loads(output[output.index("{"):])
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("notebook, expected", [("solution", 100), ("student", 0)])
def test_otter_zip_grades_in_the_image_like_the_engine(dist, notebook, expected, tmp_path):
    from grader import batch
    from grader.grading import Options

    submission = tmp_path / "activations.ipynb"
    submission.write_bytes(dist[notebook].read_bytes())
    results = run_in_image(dist["autograder_zip"], submission)
    engine = batch.run([submission], tmp_path / "out", Options(), progress=False).records[0]
    total = sum(t["score"] for t in results["tests"])
    assert total == pytest.approx(engine["score"]) == expected
    assert "activation-grader" in results["output"]  # the engine's summary: the plugin graded it
