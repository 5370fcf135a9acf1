"""q3: collapsing two affine layers, graded against the autograd Jacobian of the two layers."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.runner import run_criteria
from grader.rubric.exercises import q03_affine as q3
from grader.rubric.probes import Plan
from helpers import grade_source, points, run_plan, failed, message_of

SEEDS = (0, 1, 2, 12345)
CRITERIA = {c.name: c for c in q3.EXERCISE.criteria}


def named(fragment: str) -> str:
    """The one criterion whose name starts with ``fragment``."""
    (name,) = [n for n in CRITERIA if n.startswith(fragment)]
    return name


SHAPES = named("returns a tuple")
MATRIX = {n for n in CRITERIA if n.startswith("A matches")}  # layers of different sizes; d = 1 or o = 1
OFFSET = {n for n in CRITERIA if n.startswith("c matches")}
BEHAVIOUR, UNMUTATED = named("A @ x + c equals"), named("inputs are not modified")
EVERYTHING = set(CRITERIA)

PRODUCTS = """
import numpy as np

def collapse_affine(W1, b1, W2, b2):
    return W2 @ W1, W2 @ b1 + b2
"""

EINSUM = """
import numpy as np

def collapse_affine(W1, b1, W2, b2):
    A = np.einsum("oh,hd->od", W2, W1)
    c = np.dot(b1, W2.T) + b2
    return (A, c)
"""

PROBING = """
import numpy as np

def collapse_affine(W1, b1, W2, b2):
    # an affine map is known from its value at 0 and at the unit vectors
    layers = lambda x: W2 @ (W1 @ x + b1) + b2
    d = W1.shape[1]
    c = layers(np.zeros(d))
    A = np.column_stack([layers(e) - c for e in np.eye(d)])
    return A, c
"""


def test_points_and_names_follow_the_contract():
    ex = q3.EXERCISE
    assert (ex.id, ex.points, ex.names) == ("q3", 8, ("collapse_affine",))
    assert sum(c.points for c in ex.criteria) == ex.points


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [PRODUCTS, EINSUM, PROBING], ids=["products", "einsum", "probing"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade_source("q3", source, seed)
    assert failed(results) == set()
    assert points(results) == 8


def wrong(body: str) -> str:
    return f"import numpy as np\n\ndef collapse_affine(W1, b1, W2, b2):\n    return {body}\n"


WRONG = {
    # products the wrong way round raise for non-square layers, so every criterion is lost
    "product_order": ("W1 @ W2, W2 @ b1 + b2", EVERYTHING, "the layer applied first stands on the right"),
    # b1 + b2 broadcasts when o = 1: that call returns, A is right there and nothing is modified
    "biases_added": ("W2 @ W1, b1 + b2", EVERYTHING - {UNMUTATED}, "b1 goes through the second layer before it meets b2"),
    "b2_missing": ("W2 @ W1, W2 @ b1", OFFSET | {BEHAVIOUR}, "b2 is missing from c"),
    "b1_missing": ("W2 @ W1, b2", OFFSET | {BEHAVIOUR}, "leaves out the first bias"),
    "A_transposed": ("W1.T @ W2.T, W2 @ b1 + b2", MATRIX | {SHAPES, BEHAVIOUR}, "the axes are swapped"),
    "c_as_column": ("W2 @ W1, (W2 @ b1 + b2)[:, None]", OFFSET | {SHAPES, BEHAVIOUR}, "1-d vector of shape (o,)"),
    # nothing is right, so "inputs are not modified" is not earned either
    "not_a_tuple": ("W2 @ W1", EVERYTHING, "return (..., ...)"),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_a_realistic_mistake_fails_its_criteria_with_its_hint(case):
    body, failing, hint = WRONG[case]
    results = grade_source("q3", wrong(body), 0)
    assert failed(results) == failing
    for name in failing - {UNMUTATED}:  # a gated criterion refers to the failing ones, which carry the hint
        assert hint in message_of(results, name) or "not awarded yet" in message_of(results, name)
    assert any(hint in message_of(results, name) for name in failing)


@pytest.mark.parametrize("mistake, meaning", q3.C_MISTAKES, ids=["W2 @ b1", "b2"])
def test_every_recognised_mistake_in_c_is_named_when_made(mistake, meaning):
    plan = q3.plan(0)
    ns = {"collapse_affine": lambda W1, b1, W2, b2: (W2 @ W1, mistake(W1, b1, W2, b2))}
    results = run_criteria(q3.EXERCISE.criteria, plan, run_plan(plan, ns))
    assert failed(results) == OFFSET | {BEHAVIOUR}
    assert all(meaning in message_of(results, n) for n in OFFSET)


def test_a_c_that_is_one_entry_per_hidden_unit_is_explained():
    # with o = 1, b1 + b2 broadcasts instead of raising: c comes back with h entries
    plan = q3.plan(0)
    call = plan.call("collapse_affine/o=1")
    ns = {"collapse_affine": lambda W1, b1, W2, b2: (W2 @ W1, b1 + b2)}
    results = run_criteria(q3.EXERCISE.criteria, Plan("q3", 0, [call], {call.id: plan.expected[call.id]}),
                           run_plan(plan, ns))
    # a plan of this one call: only the criteria about one output (o = 1) have inputs
    assert failed(results) == {n for n in OFFSET if "o = 1" in n} | {SHAPES, BEHAVIOUR}
    assert "one entry per hidden unit" in message_of(results, SHAPES)


def test_a_missing_function_costs_the_whole_exercise_and_says_so():
    results = grade_source("q3", "import numpy as np\n", 0)
    assert points(results) == 0
    assert all("collapse_affine is not defined" in r.message for r in results)


def test_an_implementation_that_modifies_its_input_loses_only_that_criterion():
    in_place = """
def collapse_affine(W1, b1, W2, b2):
    b2 += W2 @ b1
    return W2 @ W1, b2
"""
    results = grade_source("q3", in_place, 0)
    assert failed(results) == {UNMUTATED}
    assert "modified its input argument 4 in place" in message_of(results, UNMUTATED)
    assert points(results) == 7


def _signature(plan):
    return [(c.id, c.func, [a.tolist() for a in c.args]) for c in plan.calls]


def test_the_plan_is_reproducible_and_depends_on_the_seed():
    assert _signature(q3.plan(3)) == _signature(q3.plan(3))
    assert _signature(q3.plan(3)) != _signature(q3.plan(4))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_plan_uses_non_square_layers_including_one_input_and_one_output(seed):
    sizes = []
    for call in q3.plan(seed).calls:
        W1, b1, W2, b2 = call.args
        (h, d), o = W1.shape, W2.shape[0]
        assert W2.shape == (o, h) and b1.shape == (h,) and b2.shape == (o,)
        assert h != d and h != o and d != o
        sizes.append((d, o))
    assert any(d == 1 for d, _ in sizes) and any(o == 1 for _, o in sizes)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_seed_grades_a_correct_answer_right_and_a_slightly_scaled_c_wrong(seed):
    assert points(grade_source("q3", PROBING, seed)) == 8
    scaled = wrong("W2 @ W1, (W2 @ b1 + b2) * (1 + 1e-5)")
    assert failed(grade_source("q3", scaled, seed)) == OFFSET | {BEHAVIOUR}
