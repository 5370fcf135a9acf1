"""Golden submissions (correct, wrong, crashing, looping) and snapshots of what their students read.

The solution is tests/golden/solution.py; the wrong, crashing and looping submissions
are derived from it by tests/variants.py. Each golden submission, and each sample, is graded with a fixed seed; its per-exercise scores
must equal tests/golden/expected.json and its feedback must equal
tests/snapshots/<name>.md, so any change to a message a student sees shows up
in review. After a deliberate change: ``UPDATE_SNAPSHOTS=1 pytest tests/pipeline/test_golden.py``.
"""
from __future__ import annotations

import json
import os

import pytest

from grader.pipeline.grading import grade
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers
from grader.rubric.record import SubmissionRecord
from grader.reports.files import feedback_markdown
from grader.sandbox.process import Limits

from conftest import GOLDEN, ROOT, SAMPLES
from variants import golden_sources

SNAPSHOTS = ROOT / "tests" / "snapshots"
EXPECTED = GOLDEN / "expected.json"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
OPTIONS = Options(seed=5, limits=Limits(timeout=40, step_timeout=3))
SOURCES = {name: text.encode() for name, text in sorted(golden_sources().items())}
SOURCES.update({p.name: p.read_bytes() for p in sorted(SAMPLES.glob("*.ipynb"))})


@pytest.fixture(scope="module")
def expected():
    data = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    yield data
    if UPDATE:
        EXPECTED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    close_workers()


@pytest.mark.parametrize("name", SOURCES)
def test_golden_submission_scores_and_feedback(name, expected):
    record = grade({"name": name, "content": SOURCES[name], "options": OPTIONS.to_dict()})
    scores = {q: ex["score"] for q, ex in record["exercises"].items()}
    scores["status"] = record["status"]
    typed = SubmissionRecord.from_dict(record)
    # the typed record is the record: read back, it writes the same JSON, byte for byte
    assert json.dumps(typed.to_dict(), indent=1) == json.dumps(record, indent=1)
    assert SubmissionRecord.from_dict(json.loads(json.dumps(typed.to_dict()))) == typed
    text = feedback_markdown(typed)
    snapshot = SNAPSHOTS / f"{name.rsplit('.', 1)[0]}.md"
    if UPDATE:
        expected[name] = scores
        snapshot.write_text(text)
    assert scores == expected[name]
    assert text == snapshot.read_text(), f"feedback changed: UPDATE_SNAPSHOTS=1 to accept ({snapshot})"


def test_every_variant_applies_to_the_solution_and_a_stale_edit_says_what_to_update():
    from variants import VARIANTS, EditDoesNotApply, derive

    solution = (GOLDEN / "solution.py").read_text()
    for v in VARIANTS:
        assert v.source(solution) != solution and v.source(solution).startswith(v.header)
    stale = solution.replace("W2 @ b1 + b2", "W2.dot(b1) + b2")
    with pytest.raises(EditDoesNotApply, match=r"wrong_q3_q5_q7_q10.py.*occurs 0 times.*tests/variants.py"):
        VARIANTS[0].source(stale)
    with pytest.raises(EditDoesNotApply, match="occurs 2 times"):
        derive("a\na\n", (("a", "b"),))
