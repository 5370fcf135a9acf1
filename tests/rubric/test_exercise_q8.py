"""q8 (dead-ReLU diagnostic): right and wrong submissions against the rubric."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises.q08_dead_relu import MISTAKES
from helpers import criterion_named, grade_quietly, points, wire_call, failed, message_of as message
from variants import derive

EXERCISE = EXERCISES["q8"]
SEEDS = (0, 1, 2, 12345)

grade = partial(grade_quietly, "q8")
criterion = partial(criterion_named, EXERCISE)


SHAPE = criterion("boolean array")
RANDOM = criterion("random pre-activations")
NO_POSITIVE = criterion("no sample > 0")
AT_THRESHOLD = criterion("exactly at the threshold")
OTHER = criterion("threshold argument")
UNMUTATED = criterion("not modified")
VALUES = {RANDOM, NO_POSITIVE, AT_THRESHOLD, OTHER}

MEAN = """
import numpy as np

def dead_relu_units(preacts, threshold=0.01):
    return np.mean(preacts > 0, axis=0) < threshold
"""

COUNT_LOOP = """
def dead_relu_units(preacts, threshold=0.01):
    n_samples, n_units = preacts.shape
    dead = []
    for j in range(n_units):
        active = sum(1 for value in preacts[:, j] if value > 0)
        dead.append(active < threshold * n_samples)
    return dead
"""

COUNT_NONZERO = """
import numpy as np

def dead_relu_units(preacts, threshold=0.01):
    active_fraction = np.count_nonzero(preacts > 0, axis=0) / preacts.shape[0]
    return np.asarray(active_fraction < threshold, dtype=bool)
"""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [MEAN, COUNT_LOOP, COUNT_NONZERO], ids=["mean", "python-loop", "count-nonzero"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade(source, seed)
    assert failed(results) == set(), "\n".join(r.message for r in results if not r.passed)
    assert points(results) == EXERCISE.points == 8


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_correct_implementation_gets_full_marks_for_any_seed(seed):
    assert points(grade(COUNT_LOOP, seed)) == 8


def _replace(old: str, new: str, source: str = MEAN) -> str:
    return derive(source, ((old, new),), variant=f"q8 mistake {old[:30]!r}")


RETURN = "    return np.mean(preacts > 0, axis=0) < threshold\n"

# (source, the criteria it fails, a fragment of the hint in a failing one's message[, criteria it may fail too])
#: Lost with every value criterion: the shape and "not modified" count once some input is right.
NOTHING_RIGHT = VALUES | {SHAPE, UNMUTATED}
WRONG = {
    ">= 0 counts zeros as active": (_replace("preacts > 0", "preacts >= 0"), {NO_POSITIVE},
                                    "you counted preact = 0 as active"),
    "<= threshold": (_replace("< threshold", "<= threshold"), {AT_THRESHOLD}, "strictly below the threshold"),
    "mean over the units axis": (_replace("axis=0", "axis=1"), NOTHING_RIGHT, "one value per sample"),
    "the fraction instead of a boolean": (_replace(" < threshold", ""), NOTHING_RIGHT,
                                          "this is the fraction of active samples"),
    "active units (>=)": (_replace("< threshold", ">= threshold"), NOTHING_RIGHT, "these are the live units"),
    "active units (>)": (_replace("< threshold", "> threshold"), NOTHING_RIGHT, "these are the live units"),
    "never active instead of the fraction": (_replace(RETURN, "    return np.all(preacts <= 0, axis=0)\n"),
                                             {AT_THRESHOLD, OTHER}, "units that are never active",
                                             {RANDOM}),  # when a random unit has 1 positive sample of ~200
    "fraction of inactive samples": (_replace(RETURN, "    return np.mean(preacts <= 0, axis=0)\n"),
                                     NOTHING_RIGHT, "this is the fraction of inactive samples"),
    "threshold ignored": (_replace("< threshold", "< 0.01"), {OTHER}, "the threshold argument is ignored"),
    "integers instead of booleans": (_replace("return np.mean(preacts > 0, axis=0) < threshold",
                                              "return (np.mean(preacts > 0, axis=0) < threshold).astype(int)"),
                                     {SHAPE}, "keep the comparison's boolean result"),
    "keepdims": (_replace("axis=0", "axis=0, keepdims=True"), NOTHING_RIGHT, "avoid keepdims=True"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_recognised_mistake_fails_its_criteria_with_its_hint(name):
    source, criteria, hint, *maybe = WRONG[name]
    for seed in (0, 12345):
        results = grade(source, seed)
        assert criteria <= failed(results) <= criteria | (maybe[0] if maybe else set()), \
            "\n".join(r.message for r in results if not r.passed)
        assert any(hint in r.message for r in results if not r.passed)
        assert points(results) == 8 - sum(c.points for c in EXERCISE.criteria if c.name in failed(results))


def test_every_recognised_mistake_has_a_submission_showing_its_hint():
    feedback = "\n".join(r.message for source, *_ in WRONG.values() for r in grade(source))
    for _, meaning in MISTAKES:
        assert meaning in feedback, meaning


def test_the_fraction_is_quoted_at_the_unit_that_differs():
    results = grade(WRONG["<= threshold"][0])
    text = message(results, AT_THRESHOLD)
    assert "where the fraction of samples with preact > 0 = 0.01: expected 0, got 1" in text


def test_a_wrong_axis_is_explained_by_the_shape():
    text = message(grade(WRONG["mean over the units axis"][0]), RANDOM)
    assert "returned shape (" in text and "the fraction is taken over the samples, axis=0" in text


def test_a_missing_function_costs_the_whole_exercise_and_says_so():
    results = grade("import numpy as np\n")
    assert failed(results) == {c.name for c in EXERCISE.criteria}
    assert "dead_relu_units is not defined" in message(results, RANDOM)


def test_a_mutating_implementation_loses_exactly_the_not_modified_criterion():
    source = _replace(RETURN, "    preacts[preacts < 0] = 0.0\n" + RETURN)
    results = grade(source)
    assert failed(results) == {UNMUTATED}
    assert "modified its input argument 1 in place" in message(results, UNMUTATED)


def test_the_plan_builds_units_exactly_at_the_threshold():
    plan = EXERCISE.plan(3)
    at = plan.call("dead_relu_units/at_threshold")
    preacts = at.args[0]
    counts = np.count_nonzero(preacts > 0, axis=0)
    assert preacts.shape[0] == 200 and at.kwargs == {}
    assert 2 in counts.tolist() and 1 in counts.tolist()
    assert not plan.expected[at.id][counts == 2].any() and plan.expected[at.id][counts == 1].all()
    no_positive = plan.call("dead_relu_units/no_positive").args[0]
    assert (no_positive == 0).all(axis=0).sum() == 2
    assert {c.kwargs.get("threshold") for c in plan.calls} == {None, 0.25, 0.1}


def test_the_plan_is_reproducible_for_a_seed_and_differs_between_seeds():
    p1, p2, p3 = EXERCISE.plan(7), EXERCISE.plan(7), EXERCISE.plan(8)
    assert [wire_call(c) for c in p1.calls] == [wire_call(c) for c in p2.calls]
    assert all(np.array_equal(p1.expected[k], p2.expected[k]) for k in p1.expected)
    assert [wire_call(c) for c in p1.calls] != [wire_call(c) for c in p3.calls]


def test_the_answer_key_is_boolean():
    plan = EXERCISE.plan(0)
    assert all(v.dtype == np.bool_ and v.shape == (c.args[0].shape[1],)
               for c in plan.calls for v in [plan.expected[c.id]])


def test_the_rubric_matches_the_contract():
    assert EXERCISE.id == "q8" and EXERCISE.points == 8
    assert EXERCISE.names == ("dead_relu_units",)
    assert sum(c.points for c in EXERCISE.criteria) == 8
    assert len({c.name for c in EXERCISE.criteria}) == len(EXERCISE.criteria)
