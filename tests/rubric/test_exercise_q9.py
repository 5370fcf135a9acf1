"""q9 (PReLU): right and wrong submissions against the rubric."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises.q09_prelu import FIXED_ALPHAS, GRAD_ALPHA_MISTAKES, GRAD_X_MISTAKES, PRELU_MISTAKES
from helpers import criterion_named, grade_quietly, points, wire_call, failed, message_of as message
from variants import derive

EXERCISE = EXERCISES["q9"]
SEEDS = (0, 1, 2, 12345)

grade = partial(grade_quietly, "q9")
criterion = partial(criterion_named, EXERCISE)


def starting(prefix: str) -> set[str]:
    return {c.name for c in EXERCISE.criteria if c.name.startswith(prefix)}


FORWARD = starting("prelu matches")  # 0-d, arrays, alpha = 0 and alpha < 0
FORWARD_EDGES = criterion("prelu is finite")
SHAPES = criterion("prelu_backward returns")
GRAD_X = starting("grad_x matches")
GRAD_X_AT_ZERO = criterion("slope alpha at x = 0")
GRAD_ALPHA = starting("grad_alpha")  # 0-d, arrays, at zero
GRAD_ALPHA_0D = criterion("x <= 0, on 0-d inputs")
FORWARD_UNMUTATED = criterion("prelu does not modify")
BACKWARD_UNMUTATED = criterion("prelu_backward does not modify")
BACKWARD = GRAD_X | GRAD_ALPHA | {SHAPES, GRAD_X_AT_ZERO, BACKWARD_UNMUTATED}

WHERE = """
import numpy as np

def prelu(x, alpha):
    return np.where(x > 0, x, alpha * x)

def prelu_backward(x, alpha, grad_out):
    grad_x = grad_out * np.where(x > 0, 1.0, alpha)
    grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))
    return grad_x, grad_alpha
"""

MASKS = """
import numpy as np

def prelu(x, alpha):
    positive = x > 0
    return x * positive + alpha * x * ~positive

def prelu_backward(x, alpha, grad_out):
    positive = x > 0
    grad_x = grad_out * positive + alpha * grad_out * ~positive
    grad_alpha = np.sum(grad_out[~positive] * x[~positive])
    return grad_x, grad_alpha
"""

MAX_MIN = """
import numpy as np

def prelu(x, alpha):
    return np.maximum(x, 0.0) + alpha * np.minimum(x, 0.0)

def prelu_backward(x, alpha, grad_out):
    x = np.asarray(x, dtype=float)
    slope = np.ones_like(x)
    slope[x <= 0] = alpha
    return slope * grad_out, np.array((grad_out * np.minimum(x, 0.0)).sum())
"""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [WHERE, MASKS, MAX_MIN], ids=["where", "boolean-masks", "max-min"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade(source, seed)
    assert failed(results) == set(), "\n".join(r.message for r in results if not r.passed)
    assert points(results) == EXERCISE.points == 12


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_correct_implementation_gets_full_marks_for_any_seed(seed):
    assert points(grade(MASKS, seed)) == 12


def _replace(old: str, new: str, source: str = WHERE) -> str:
    return derive(source, ((old, new),), variant=f"q9 mistake {old[:30]!r}")


GRAD_X_LINE = "grad_x = grad_out * np.where(x > 0, 1.0, alpha)"
GRAD_ALPHA_LINE = "grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))"
FORWARD_LINE = "return np.where(x > 0, x, alpha * x)"

# (source, the criteria it fails, a fragment of the hint in the first failing one's message)
WRONG = {
    "slope 1 at 0": (_replace(GRAD_X_LINE, "grad_x = grad_out * np.where(x >= 0, 1.0, alpha)"), {GRAD_X_AT_ZERO},
                     "at x = 0 you used slope 1"),
    "grad_x without grad_out": (_replace(GRAD_X_LINE, "grad_x = np.where(x > 0, 1.0, alpha)"),
                                GRAD_X | {GRAD_X_AT_ZERO}, "grad_out is missing: grad_x"),
    "grad_x of ReLU": (_replace(GRAD_X_LINE, "grad_x = grad_out * np.where(x > 0, 1.0, 0.0)"),
                       GRAD_X | {GRAD_X_AT_ZERO}, "this is ReLU's backward"),
    "grad_x = alpha * x on the left": (_replace(GRAD_X_LINE, "grad_x = grad_out * np.where(x > 0, 1.0, alpha * x)"),
                                       GRAD_X | {GRAD_X_AT_ZERO}, "is alpha, not alpha * x"),
    "grad_alpha over all x": (_replace(GRAD_ALPHA_LINE, "grad_alpha = float(np.sum(grad_out * x))"), GRAD_ALPHA,
                              "this is sum(grad_out * x) over all elements"),
    "grad_alpha over x > 0": (_replace(GRAD_ALPHA_LINE,
                                       "grad_alpha = float(np.sum(grad_out * np.where(x > 0, x, 0.0)))"),
                              GRAD_ALPHA, "you summed over x > 0"),
    "grad_alpha without x": (_replace(GRAD_ALPHA_LINE, "grad_alpha = float(np.sum(np.where(x > 0, 0.0, grad_out)))"),
                             GRAD_ALPHA, "the factor x is missing"),
    "grad_alpha without grad_out": (_replace(GRAD_ALPHA_LINE, "grad_alpha = float(np.sum(np.where(x > 0, 0.0, x)))"),
                                    GRAD_ALPHA, "grad_out is missing: sum grad_out * x"),
    "grad_alpha is the mean": (_replace(GRAD_ALPHA_LINE,
                                        "grad_alpha = float(np.mean(grad_out * np.where(x > 0, 0.0, x)))"),
                               GRAD_ALPHA - {GRAD_ALPHA_0D}, "this is the mean"),  # the mean of one number is its sum
    "grad_alpha is the mean over x <= 0": (_replace(GRAD_ALPHA_LINE, "grad_alpha = np.mean((grad_out * x)[x <= 0])"),
                                           # a positive 0-d x leaves no element: the mean is nan
                                           GRAD_ALPHA, "this is the mean over the elements"),
    "grad_alpha not summed": (_replace(GRAD_ALPHA_LINE, "grad_alpha = grad_out * np.where(x > 0, 0.0, x)"),
                              GRAD_ALPHA - {GRAD_ALPHA_0D} | {SHAPES}, "grad_alpha must be one number"),
    "grad_alpha of shape (1,)": (_replace(GRAD_ALPHA_LINE,
                                          "grad_alpha = np.sum(grad_out * np.where(x > 0, 0.0, x)).reshape(1)"),
                                 {SHAPES}, "not an array with one element"),
    # ReLU is PReLU with alpha = 0: right on that input, so "not modified" is earned
    "prelu is ReLU": (_replace(FORWARD_LINE, "return np.maximum(x, 0.0)"), FORWARD | {FORWARD_EDGES}, "this is ReLU"),
    "prelu returns alpha": (_replace(FORWARD_LINE, "return np.where(x > 0, x, alpha)"), FORWARD | {FORWARD_EDGES},
                            "return alpha * x, not alpha"),
    "prelu branches swapped": (_replace(FORWARD_LINE, "return np.where(x > 0, alpha * x, x)"),
                               FORWARD | {FORWARD_EDGES, FORWARD_UNMUTATED}, "the branches are swapped"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_recognised_mistake_fails_its_criteria_with_its_hint(name):
    source, criteria, hint = WRONG[name]
    for seed in (0, 12345):
        results = grade(source, seed)
        assert failed(results) == criteria, "\n".join(r.message for r in results if not r.passed)
        first = next(r for r in results if not r.passed)
        # on one element several wrong sums coincide, so the 0-d criterion may name another of them
        assert "Hint: " in first.message and any(hint in r.message for r in results if not r.passed)
        assert points(results) == 12 - sum(c.points for c in EXERCISE.criteria if c.name in criteria)


def test_every_recognised_mistake_has_a_submission_showing_its_hint():
    feedback = "\n".join(r.message for source, _, _ in WRONG.values() for r in grade(source))
    for _, meaning in PRELU_MISTAKES + GRAD_X_MISTAKES + GRAD_ALPHA_MISTAKES:
        assert meaning in feedback, meaning


def test_the_slope_at_zero_is_reported_at_x_equal_to_zero():
    text = message(grade(WRONG["slope 1 at 0"][0]), GRAD_X_AT_ZERO)
    assert "where x = 0:" in text


def test_an_unsummed_grad_alpha_is_explained_in_the_value_criterion_too():
    results = grade(WRONG["grad_alpha not summed"][0])
    assert "grad_alpha must be one number" in message(results, criterion("x <= 0, on random arrays"))


def test_a_missing_function_costs_only_its_own_criteria():
    results = grade(WHERE.split("def prelu_backward")[0])
    assert failed(results) == BACKWARD
    assert points(results) == 3.75
    assert all("prelu_backward is not defined" in message(results, name) for name in GRAD_ALPHA)
    only_backward = _replace("def prelu(x, alpha):\n    " + FORWARD_LINE + "\n", "")
    assert failed(grade(only_backward)) == FORWARD | {FORWARD_EDGES, FORWARD_UNMUTATED}


def test_a_mutating_forward_loses_exactly_its_not_modified_criterion():
    source = _replace(FORWARD_LINE, "x[x <= 0] *= alpha\n    return x")
    results = grade(source)
    assert failed(results) == {FORWARD_UNMUTATED}
    assert "modified its input argument 1 in place" in message(results, FORWARD_UNMUTATED)


def test_a_mutating_backward_loses_exactly_its_not_modified_criterion():
    source = _replace(GRAD_X_LINE + "\n    " + GRAD_ALPHA_LINE,
                      GRAD_ALPHA_LINE + "\n    grad_out[x <= 0] *= alpha\n    grad_x = grad_out")
    results = grade(source)
    assert failed(results) == {BACKWARD_UNMUTATED}
    assert "modified its input argument 3 in place" in message(results, BACKWARD_UNMUTATED)


def test_the_plan_has_several_alphas_every_rank_and_exact_zeros():
    plan = EXERCISE.plan(0)
    backward = [c for c in plan.calls if c.func == "prelu_backward"]
    alphas = [c.args[1] for c in backward]
    assert set(FIXED_ALPHAS) <= set(alphas) and min(alphas) < 0 and 0.0 in alphas
    assert {np.ndim(c.args[0]) for c in backward} >= {0, 1, 2, 3}
    zeros = [c for c in backward if np.any(np.asarray(c.args[0]) == 0)]
    assert {c.id.split("/")[-1] for c in zeros} == {"edges", "zeros", "zero0d", "integers"}
    assert all(np.ndim(plan.expected[c.id][1]) == 0 for c in backward)


def test_the_plan_is_reproducible_for_a_seed_and_differs_between_seeds():
    p1, p2, p3 = EXERCISE.plan(7), EXERCISE.plan(7), EXERCISE.plan(8)
    assert [wire_call(c) for c in p1.calls] == [wire_call(c) for c in p2.calls]
    for k in p1.expected:
        a, b = p1.expected[k], p2.expected[k]
        assert all(np.array_equal(u, v) for u, v in zip(a, b)) if isinstance(a, tuple) else np.array_equal(a, b)
    assert [wire_call(c) for c in p1.calls] != [wire_call(c) for c in p3.calls]


def test_the_rubric_matches_the_contract():
    assert EXERCISE.id == "q9" and EXERCISE.points == 12
    assert EXERCISE.names == ("prelu", "prelu_backward")
    assert sum(c.points for c in EXERCISE.criteria) == 12
    assert len({c.name for c in EXERCISE.criteria}) == len(EXERCISE.criteria)
