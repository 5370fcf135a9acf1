"""A function that hangs or kills its process costs that function's criteria, not its exercise.

The submissions are the golden solution with one function broken (``variants.derive``), graded
for real with the same seed as the solution itself: every criterion that does not call the
broken function must score exactly as in the solution, and the feedback must name the culprit.
"""
from __future__ import annotations

import pytest

from grader.pipeline.grading import grade
from grader.rubric.record import SubmissionRecord
from grader.reports.files import feedback_markdown, notebook_problems
from grader.sandbox.process import Limits
from grader.pipeline.tasks import Options
from grader.pipeline.warm import close_workers

from variants import SOLUTION, derive

OPTIONS = Options(seed=7, limits=Limits(timeout=40, step_timeout=2, memory_bytes=1024**3))

HANG_RELU = ("def relu_derivative(x):\n", "def relu_derivative(x):\n    while True:\n        pass\n")
EXIT_ELU = ("def elu_derivative(x, alpha=1.0):\n", "def elu_derivative(x, alpha=1.0):\n    import os\n    os._exit(3)\n")
HANG_RELU_AND_SOFTMAX = (HANG_RELU, ("def softmax(z, axis=-1):\n", "def softmax(z, axis=-1):\n    while True:\n        pass\n"))


@pytest.fixture(scope="module", autouse=True)
def _workers():
    yield
    close_workers()


def graded(*edits: tuple[str, str]) -> SubmissionRecord:
    source = derive(SOLUTION.read_text(), edits)
    return SubmissionRecord.from_dict(grade({"name": "broken.py", "content": source.encode(),
                                             "options": OPTIONS.to_dict()}))


@pytest.fixture(scope="module")
def solution() -> SubmissionRecord:
    return graded()


def criteria_of(record: SubmissionRecord, q: str, func: str) -> dict[str, float]:
    """The points of each criterion of ``func`` ("elu_derivative is ...", "elu_derivative(x, alpha=...) is ...")."""
    return {c.name: c.points for c in record.exercises[q].criteria if c.name.startswith((f"{func} ", f"{func}("))}


def test_a_hanging_function_costs_only_its_own_criteria(solution):
    record = graded(HANG_RELU)
    q2, ref = record.exercises["q2"], solution.exercises["q2"]
    assert ref.score == ref.max_score == 10
    relu = criteria_of(record, "q2", "relu_derivative")
    assert relu and all(points == 0 for points in relu.values())
    assert all("relu_derivative(" in c.message and "did not finish in time" in c.message
               for c in q2.criteria if c.name in relu)
    for func in ("leaky_relu_derivative", "elu_derivative", "gelu_derivative", "silu_derivative"):
        mine, theirs = criteria_of(record, "q2", func), criteria_of(solution, "q2", func)
        assert mine and mine == theirs, func
        assert not any("did not finish" in c.message for c in q2.criteria if c.name in mine), func
    # the starting point: all of q2 was 0; now it loses what relu_derivative's criteria are worth
    assert q2.score == pytest.approx(ref.score - sum(c.max_points for c in ref.criteria if c.name in relu))
    assert 0 < q2.score < ref.score
    problems = "\n".join(notebook_problems(record))
    assert "q2: relu_derivative was stopped (did not finish within 2 s)" in problems
    assert "stopped this exercise" not in problems
    assert "relu_derivative was stopped" in feedback_markdown(record)
    assert {q: ex.score for q, ex in record.exercises.items() if q != "q2"} == \
        {q: ex.score for q, ex in solution.exercises.items() if q != "q2"}


def test_a_function_that_kills_the_process_is_named_and_the_others_are_graded(solution):
    record = graded(EXIT_ELU)
    elu = criteria_of(record, "q2", "elu_derivative")
    assert elu and all(points == 0 for points in elu.values())
    for func in ("relu_derivative", "leaky_relu_derivative", "gelu_derivative", "silu_derivative"):
        assert criteria_of(record, "q2", func) == criteria_of(solution, "q2", func), func
    assert "q2: elu_derivative was stopped (the process exited with status 3)" in "\n".join(notebook_problems(record))
    assert record.score == pytest.approx(solution.score - sum(
        c.max_points for c in solution.exercises["q2"].criteria if c.name in elu))


def test_two_hanging_functions_in_two_exercises_are_each_named(solution):
    record = graded(*HANG_RELU_AND_SOFTMAX)
    problems = notebook_problems(record)
    assert [p for p in problems if "was stopped" in p] == [
        "q2: relu_derivative was stopped (did not finish within 2 s): its calls score 0; the other functions of "
        "q2 were graded without it.",
        "q4: softmax was stopped (did not finish within 2 s): its calls score 0."]
    for q in ("q1", "q3", "q5", "q6", "q7", "q8", "q9", "q10"):
        assert record.exercises[q].score == solution.exercises[q].score, q
