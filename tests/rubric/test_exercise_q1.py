"""q1: sigmoid, its derivative and tanh's derivative, graded against autograd keys."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.checks import Mismatch
from grader.rubric.exercises import q01_saturating as q1
from grader.rubric.probes import EDGE_VALUES
from helpers import grade_source, points, failed, message_of as message

SEEDS = (0, 1, 2, 12345)
NAMES = [c.name for c in q1.EXERCISE.criteria]


def of(func: str, *fragments: str) -> set[str]:
    """The criteria of ``func`` whose names contain one of ``fragments`` (all of them if none)."""
    return {n for n in NAMES if n.split(" ")[0] == func and (not fragments or any(f in n for f in fragments))}


RANDOM_CLASSES = ("0-d", "1-d", "rank 2")
SIGMOID, EDGES = of("sigmoid", *RANDOM_CLASSES), of("sigmoid", "finite")
SMALL_EDGES, LARGE_EDGES = of("sigmoid", "+-1e-12"), of("sigmoid", "+-1000")
SIG_DERIV, TANH_DERIV = of("sigmoid_derivative"), of("tanh_derivative")
(UNMUTATED,) = [n for n in NAMES if "not modified" in n]

STABLE = """
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1 - s)

def tanh_derivative(x):
    return 1 - np.tanh(x) ** 2
"""

NAIVE = """
import numpy as np

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))        # exp overflows to inf at -1000: 1/inf = 0, still correct

def sigmoid_derivative(x):
    return sigmoid(x) * sigmoid(-x)

def tanh_derivative(x):
    return 1.0 / np.cosh(x) ** 2
"""

SCIPY = """
import numpy as np
from scipy.special import expit

def sigmoid(x):
    return expit(x)

def sigmoid_derivative(x):
    return expit(x) * expit(-x)

def tanh_derivative(x):
    t = np.tanh(x)
    return (1 - t) * (1 + t)
"""


def with_body(func: str, body: str, base: str = STABLE) -> str:
    """``base`` with ``func`` redefined afterwards (a later cell wins, as in Jupyter)."""
    return base + f"\ndef {func}(x):\n    {body}\n"


def test_points_and_names_follow_the_contract():
    ex = q1.EXERCISE
    assert (ex.id, ex.points, ex.names) == ("q1", 10, ("sigmoid", "sigmoid_derivative", "tanh_derivative"))
    assert sum(c.points for c in ex.criteria) == ex.points


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [STABLE, NAIVE, SCIPY], ids=["stable", "naive", "scipy"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade_source("q1", source, seed)
    assert failed(results) == set() and points(results) == 10


@pytest.mark.parametrize("func, body, lost, hint", [
    ("sigmoid_derivative", "return sigmoid(x)", SIG_DERIV,
     "this is sigmoid(x), not sigmoid(x) * (1 - sigmoid(x))."),
    ("sigmoid_derivative", "return 1 - sigmoid(x)", SIG_DERIV, "this is 1 - sigmoid(x)"),
    ("sigmoid_derivative", "return x * (1 - x)", SIG_DERIV, "that formula takes the output s = sigmoid(x)"),
    ("sigmoid_derivative", "return sigmoid(x) * (1 - x)", SIG_DERIV, "both factors use s = sigmoid(x)"),
    ("sigmoid_derivative", "s = sigmoid(sigmoid(x))\n    return s * (1 - s)", SIG_DERIV, "sigmoid is applied twice"),
    ("tanh_derivative", "return 1 - np.tanh(x)", TANH_DERIV, "this is 1 - tanh(x); the derivative is"),
    ("tanh_derivative", "return np.tanh(x) ** 2", TANH_DERIV, "this is tanh(x)**2"),
    ("tanh_derivative", "return 1 - np.asarray(x) ** 2", TANH_DERIV, "square tanh(x), not x"),
    ("tanh_derivative", "return 1 - np.tanh(np.tanh(x)) ** 2", TANH_DERIV, "tanh is applied twice"),
    # sigmoid(-x) * (1 - sigmoid(-x)) is still the right derivative: only sigmoid's own criteria fall
    ("sigmoid", "return 1 / (1 + np.exp(x))", SIGMOID | EDGES, "this is sigmoid(-x)"),
    ("sigmoid", "return np.tanh(x)", SIGMOID | EDGES | SIG_DERIV, "this is tanh(x), not the logistic sigmoid"),
])
def test_realistic_mistakes_lose_their_criteria_with_a_hint(func, body, lost, hint):
    results = grade_source("q1", with_body(func, body), seed=1)
    assert failed(results) == lost
    for name in of(func) & lost:
        if "not awarded" not in message(results, name):
            assert hint in message(results, name), name


def test_sigmoid_derivative_at_zero_names_the_mistake_with_expected_and_got():
    results = grade_source("q1", with_body("sigmoid_derivative", "return sigmoid(x)"), seed=0)
    (name,) = of("sigmoid_derivative", "0-d")
    text = message(results, name)
    assert "expected 0.25, got 0.5" in text or "differ from the expected values" in text
    assert "Max absolute difference" in text and "Max relative difference" in text


def test_a_sigmoid_that_is_nan_at_large_inputs_loses_the_edge_criterion():
    source = with_body("sigmoid", "x = np.asarray(x, dtype=float)\n    return np.exp(x) / (np.exp(x) + 1)")
    results = grade_source("q1", source, seed=0)
    # exp(700) is finite: only +-1000 and values near them give nan (in sigmoid_derivative too, which calls it)
    assert failed(results) == LARGE_EDGES | of("sigmoid_derivative", "+-1000")
    assert "nan" in message(results, min(LARGE_EDGES))


def test_a_missing_function_costs_only_its_own_criteria():
    source = STABLE.replace("def tanh_derivative", "def tanh_derivative_unused")
    results = grade_source("q1", source, seed=0)
    assert failed(results) == TANH_DERIV
    assert all("tanh_derivative is not defined" in message(results, n) for n in TANH_DERIV - of("tanh_derivative", "finite"))


def test_a_function_that_modifies_its_input_loses_exactly_the_unmutated_criterion():
    source = with_body("sigmoid_derivative", "s = sigmoid(x)\n    out = s * (1 - s)\n    x[...] = 0\n    return out")
    results = grade_source("q1", source, seed=0)
    assert failed(results) == {UNMUTATED}
    assert "sigmoid_derivative(" in message(results, UNMUTATED) and "in place" in message(results, UNMUTATED)


def test_blank_submission_gets_nothing():
    assert points(grade_source("q1", "import numpy as np\n", seed=0)) == 0


def test_plan_is_reproducible_and_differs_between_seeds():
    a, b, c = q1.plan(5), q1.plan(5), q1.plan(6)
    assert [x.id for x in a.calls] == [x.id for x in b.calls]
    assert all(np.array_equal(x.args[0], y.args[0]) for x, y in zip(a.calls, b.calls))
    assert not all(np.array_equal(x.args[0], y.args[0]) for x, y in zip(a.calls, c.calls) if x.args[0].size > 1)


def test_plan_contains_the_contract_edge_cases():
    plan = q1.plan(0)
    edges = np.concatenate([plan.call("sigmoid/small").args[0], plan.call("sigmoid/large").args[0]])
    for v in (0.0, 1e-12, -1e-12, 50.0, -50.0, 700.0, -700.0, 1000.0, -1000.0):
        assert v in edges
    # next to each, a value drawn per submission: a table of the fixed values cannot pass
    other = np.concatenate([q1.plan(1).call("sigmoid/small").args[0], q1.plan(1).call("sigmoid/large").args[0]])
    assert edges.size == other.size == 2 * 13 - 1
    drawn, drawn_other = set(edges) - set(EDGE_VALUES), set(other) - set(EDGE_VALUES)
    assert len(drawn) == len(drawn_other) == 12 and not drawn & drawn_other
    near_700 = np.abs(edges[(np.abs(edges) > 700) & (np.abs(edges) < 800)])
    assert near_700.size == 2 and np.all(near_700 < 709.78)  # exp(x) stays finite there, as at 700


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.floats(1e-5, 1e-2))
def test_a_relative_error_far_above_tolerance_always_fails(scale):
    source = with_body("tanh_derivative", f"return (1 - np.tanh(x) ** 2) * (1 + {scale!r})")
    results = grade_source("q1", source, seed=3)
    assert failed(results) & TANH_DERIV
    (name,) = of("tanh_derivative", "rank 2")
    failure = next(r.failure for r in results if r.name == name)
    assert isinstance(failure, Mismatch) and failure.max_rel == pytest.approx(scale, rel=1e-3)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(st.integers(0, 2**31))
def test_correct_answers_pass_for_any_seed(seed):
    assert points(grade_source("q1", STABLE, seed)) == 10


FLOAT32 = """
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=np.float32)
    return 1 / (1 + np.exp(-x))

def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1 - s)

def tanh_derivative(x):
    return 1 - np.tanh(np.float32(x)) ** 2
"""

SCALAR_ONLY = """
import math

def sigmoid(x):
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    return math.exp(x) / (1 + math.exp(x))

def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1 - s)

def tanh_derivative(x):
    return 1 - math.tanh(x) ** 2
"""


def test_float32_arithmetic_is_named_where_it_fails():
    results = grade_source("q1", FLOAT32, seed=0)
    lost = failed(results)
    assert of("sigmoid", "rank 2") <= lost and of("tanh_derivative", "rank 2") <= lost
    for name in lost:
        assert "rounded to float32" in message(results, name) or "not awarded yet" in message(results, name), name


@pytest.mark.parametrize("source", [STABLE, NAIVE, SCIPY])
def test_the_float32_and_scalar_hints_never_fire_on_a_correct_answer_or_another_mistake(source):
    for seed in SEEDS:
        assert failed(grade_source("q1", source, seed)) == set()
    scaled = with_body("tanh_derivative", "return (1 - np.tanh(x) ** 2) * (1 + 1e-6)", source)
    results = grade_source("q1", scaled, seed=0)
    assert failed(results) and all("float32" not in r.message and "one number at a time" not in r.message
                                   for r in results)


def test_scalar_only_code_keeps_the_0d_criteria_and_is_told_why_arrays_fail():
    results = grade_source("q1", SCALAR_ONLY, seed=0)
    earned = {r.name for r in results if r.passed}
    # right on 0-d inputs, and modifies nothing there: "not modified" counts too
    assert earned == of("sigmoid", "0-d") | of("sigmoid_derivative", "0-d") | of("tanh_derivative", "0-d") | {UNMUTATED}
    assert points(results) == 2.5
    for name in of("sigmoid", "1-d", "rank 2"):
        assert "one number at a time" in message(results, name) and "np.where" in message(results, name)
    # the edge vectors are arrays too: the feedback names the class that failed
    assert "not awarded" not in message(results, min(of("sigmoid", "+-1000")))
