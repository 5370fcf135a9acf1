"""q6 (gated linear unit): right and wrong submissions against the rubric."""
from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises.q06_glu import GLU_MISTAKES, GRAD_A_MISTAKES, GRAD_B_MISTAKES, SWAPPED
from helpers import criterion_named, grade_quietly, points, wire_call, failed, message_of as message

EXERCISE = EXERCISES["q6"]
SEEDS = (0, 1, 2, 12345)

grade = partial(grade_quietly, "q6")
criterion = partial(criterion_named, EXERCISE)


GLU_FORWARD = {c.name for c in EXERCISE.criteria if "glu matches" in c.name}  # 0-d, arrays
GLU_EDGES = criterion("glu is finite")
SHAPES = criterion("returns a tuple")
GRAD_A = {c.name for c in EXERCISE.criteria if "grad_a matches" in c.name}
GRAD_B = {c.name for c in EXERCISE.criteria if "grad_b matches" in c.name}
BACKWARD_EDGES = criterion("glu_backward is finite")
GLU_UNMUTATED = criterion("glu does not modify")
BACKWARD_UNMUTATED = criterion("glu_backward does not modify")

STABLE = """
import numpy as np

def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

def glu(a, b):
    return a * sigmoid(b)

def glu_backward(a, b, grad_out):
    s = sigmoid(b)
    return grad_out * s, grad_out * a * s * (1 - s)
"""

EXPIT = """
import numpy as np
from scipy.special import expit

def glu(a, b):
    return np.multiply(a, expit(b))

def glu_backward(a, b, grad_out):
    grad_a = grad_out * expit(b)
    grad_b = grad_out * a * expit(b) * expit(-b)
    return (grad_a, grad_b)
"""

NAIVE = """
import numpy as np

def glu(a, b):
    return a / (1.0 + np.exp(-b))

def glu_backward(a, b, grad_out):
    s = 1.0 / (1.0 + np.exp(-b))
    return grad_out * s, grad_out * a * s * (1.0 - s)
"""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [STABLE, EXPIT, NAIVE], ids=["stable-where", "scipy-expit", "naive-overflowing"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade(source, seed)
    assert failed(results) == set(), "\n".join(r.message for r in results if not r.passed)
    assert points(results) == EXERCISE.points == 10


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_correct_implementation_gets_full_marks_for_any_seed(seed):
    assert points(grade(STABLE, seed)) == 10


# (source, the criteria it fails, a fragment of the hint in the first failing one's message)
WRONG = {
    "grad_b forgot sigmoid' and a": (STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * s"),
                                     GRAD_B | {BACKWARD_EDGES}, "forgot the derivative of the sigmoid and the factor a"),
    "grad_b without a": (STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * s * (1 - s)"),
                         GRAD_B | {BACKWARD_EDGES}, "the factor a is missing"),
    "grad_b = grad_out * a * s": (STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * a * s"),
                                  GRAD_B | {BACKWARD_EDGES}, "the derivative of sigmoid(b) is"),
    "grad_b with sigmoid' of the output": (STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * a * b * (1 - b)"),
                                          GRAD_B | {BACKWARD_EDGES}, "written as b * (1 - b)"),
    "grad_b = grad_out * a * s * (1 - b)": (STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * a * s * (1 - b)"),
                                            GRAD_B | {BACKWARD_EDGES}, "in both factors"),
    "grad_b without grad_out": (STABLE.replace("grad_out * a * s * (1 - s)", "a * s * (1 - s)"),
                                GRAD_B | {BACKWARD_EDGES}, "grad_out is missing"),
    "swapped outputs": (STABLE.replace("return grad_out * s, grad_out * a * s * (1 - s)",
                                       "return grad_out * a * s * (1 - s), grad_out * s"),
                        # both items wrong everywhere: the shape and "not modified" are not earned either
                        GRAD_A | GRAD_B | {BACKWARD_EDGES, SHAPES, BACKWARD_UNMUTATED}, "the outputs are swapped"),
    "grad_a forgot the gate": (STABLE.replace("return grad_out * s,", "return grad_out,"),
                               GRAD_A | {BACKWARD_EDGES}, "you forgot the gate"),
    "grad_a without grad_out": (STABLE.replace("return grad_out * s,", "return s,"),
                                GRAD_A | {BACKWARD_EDGES}, "multiply by grad_out"),
    "glu gates a instead of b": (STABLE.replace("return a * sigmoid(b)", "return b * sigmoid(a)"),
                                 GLU_FORWARD | {GLU_EDGES, GLU_UNMUTATED}, "the gate is sigmoid(b)"),
    "glu without sigmoid": (STABLE.replace("return a * sigmoid(b)", "return a * b"),
                            GLU_FORWARD | {GLU_EDGES, GLU_UNMUTATED}, "pass the gate through the sigmoid"),
    "glu with tanh": (STABLE.replace("return a * sigmoid(b)", "return a * np.tanh(b)"),
                      GLU_FORWARD | {GLU_EDGES, GLU_UNMUTATED}, "the gate of a GLU is the logistic sigmoid"),
    "glu = sigmoid(a * b)": (STABLE.replace("return a * sigmoid(b)", "return sigmoid(a * b)"),
                             GLU_FORWARD | {GLU_EDGES, GLU_UNMUTATED}, "only b goes through the sigmoid"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_recognised_mistake_fails_its_criteria_with_its_hint(name):
    source, criteria, hint = WRONG[name]
    for seed in (0, 12345):
        results = grade(source, seed)
        assert failed(results) == criteria
        first = next(r for r in results if not r.passed and "not awarded yet" not in r.message)
        assert "Hint: " in first.message and hint in first.message, first.message
        assert points(results) == 10 - sum(c.points for c in EXERCISE.criteria if c.name in criteria)


def test_every_recognised_mistake_has_a_submission_showing_its_hint():
    feedback = "\n".join(r.message for source, _, _ in WRONG.values() for r in grade(source))
    for meaning in [m for _, m in GLU_MISTAKES + GRAD_A_MISTAKES + GRAD_B_MISTAKES] + [SWAPPED]:
        assert meaning in feedback, meaning


def test_the_swap_is_named_in_both_items():
    results = grade(WRONG["swapped outputs"][0])
    assert all("the outputs are swapped" in message(results, name) for name in GRAD_A | GRAD_B)


def test_a_sigmoid_that_overflows_into_nan_fails_only_the_edge_criterion():
    source = STABLE.replace("return np.where(x >= 0, 1 / (1 + e), e / (1 + e))",
                            "return np.exp(x) / (1 + np.exp(x))")
    results = grade(source)
    assert failed(results) == {GLU_EDGES, BACKWARD_EDGES}
    # exp overflows above 709.78: at 1000 and at the value drawn near it
    assert "nan" in message(results, GLU_EDGES) and re.search(r"b = 1\d\d\d", message(results, GLU_EDGES))


def test_an_unstable_derivative_fails_only_the_backward_edge_criterion():
    source = STABLE.replace("grad_out * a * s * (1 - s)", "grad_out * a * np.exp(-b) / (1 + np.exp(-b))**2")
    results = grade(source)
    assert failed(results) == {BACKWARD_EDGES}
    assert "nan" in message(results, BACKWARD_EDGES)


def test_a_single_array_instead_of_a_tuple_fails_the_backward_criteria():
    source = STABLE.replace("return grad_out * s, grad_out * a * s * (1 - s)",
                            "return np.stack([grad_out * s, grad_out * a * s * (1 - s)])")
    results = grade(source)
    assert failed(results) == GRAD_A | GRAD_B | {SHAPES, BACKWARD_EDGES, BACKWARD_UNMUTATED}
    assert "expected a tuple of 2 arrays" in message(results, SHAPES)


def test_a_missing_function_costs_only_its_own_criteria():
    only_forward = STABLE.split("def glu_backward")[0]
    results = grade(only_forward)
    assert failed(results) == GRAD_A | GRAD_B | {SHAPES, BACKWARD_EDGES, BACKWARD_UNMUTATED}
    assert points(results) == 3.5
    assert all("glu_backward is not defined" in message(results, name) for name in GRAD_A)
    only_backward = STABLE.replace("def glu(a, b):\n    return a * sigmoid(b)\n", "")
    assert failed(grade(only_backward)) == GLU_FORWARD | {GLU_EDGES, GLU_UNMUTATED}


def test_a_mutating_implementation_loses_exactly_the_not_modified_criterion():
    source = STABLE.replace("    s = sigmoid(b)\n    return grad_out * s, grad_out * a * s * (1 - s)",
                            "    s = sigmoid(b)\n    grad_b = grad_out * a * s * (1 - s)\n"
                            "    grad_out *= s\n    return grad_out, grad_b")
    results = grade(source)
    assert failed(results) == {BACKWARD_UNMUTATED}
    assert "modified its input argument 3 in place" in message(results, BACKWARD_UNMUTATED)


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b)


def test_the_plan_is_reproducible_for_a_seed_and_differs_between_seeds():
    p1, p2, p3 = EXERCISE.plan(7), EXERCISE.plan(7), EXERCISE.plan(8)
    assert [wire_call(c) for c in p1.calls] == [wire_call(c) for c in p2.calls]
    assert p1.expected.keys() == p2.expected.keys()
    assert all(_same(p1.expected[k], p2.expected[k]) for k in p1.expected)
    assert [wire_call(c) for c in p1.calls] != [wire_call(c) for c in p3.calls]


def test_the_plan_covers_every_rank_and_the_edge_values():
    plan = EXERCISE.plan(0)
    ranks = {np.ndim(c.args[0]) for c in plan.calls if c.func == "glu_backward"}
    assert ranks >= {0, 1, 2, 3}
    b_values = np.concatenate([np.ravel(c.args[1]) for c in plan.calls if c.func == "glu"])
    assert {50.0, -50.0, 700.0, -700.0, 1000.0, -1000.0, 0.0} <= set(b_values.tolist())
    assert len({c.id for c in plan.calls}) == len(plan.calls)


def test_the_rubric_matches_the_contract():
    assert EXERCISE.id == "q6" and EXERCISE.points == 10
    assert EXERCISE.names == ("glu", "glu_backward")
    assert sum(c.points for c in EXERCISE.criteria) == 10
    assert len({c.name for c in EXERCISE.criteria}) == len(EXERCISE.criteria)
