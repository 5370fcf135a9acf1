"""Golden submissions (correct, wrong, crashing, looping) and snapshots of what their students read.

Each file in tests/golden/ is graded with a fixed seed; its per-exercise scores
must equal tests/golden/expected.json and its feedback must equal
tests/snapshots/<name>.md, so any change to a message a student sees shows up
in review. After a deliberate change: ``UPDATE_SNAPSHOTS=1 pytest tests/test_golden.py``.
"""
from __future__ import annotations

import json
import os

import pytest

from grader.grading import grade
from grader.tasks import Options
from grader.warm import close_workers
from grader.record import SubmissionRecord
from grader.report import feedback_markdown
from grader.sandbox import Limits

from conftest import GOLDEN, ROOT, SAMPLES

SNAPSHOTS = ROOT / "tests" / "snapshots"
EXPECTED = GOLDEN / "expected.json"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
OPTIONS = Options(seed=5, limits=Limits(timeout=40, step_timeout=3))
FILES = sorted(GOLDEN.glob("*.py")) + sorted(SAMPLES.glob("*.ipynb"))


@pytest.fixture(scope="module")
def expected():
    data = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    yield data
    if UPDATE:
        EXPECTED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    close_workers()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_golden_submission_scores_and_feedback(path, expected):
    record = grade({"name": path.name, "content": path.read_bytes(), "options": OPTIONS.to_dict()})
    scores = {q: ex["score"] for q, ex in record["exercises"].items()}
    scores["status"] = record["status"]
    typed = SubmissionRecord.from_dict(record)
    # the typed record is the record: read back, it writes the same JSON, byte for byte
    assert json.dumps(typed.to_dict(), indent=1) == json.dumps(record, indent=1)
    assert SubmissionRecord.from_dict(json.loads(json.dumps(typed.to_dict()))) == typed
    text = feedback_markdown(typed)
    snapshot = SNAPSHOTS / f"{path.stem}.md"
    if UPDATE:
        expected[path.name] = scores
        snapshot.write_text(text)
    assert scores == expected[path.name]
    assert text == snapshot.read_text(), f"feedback changed: UPDATE_SNAPSHOTS=1 to accept ({snapshot})"
