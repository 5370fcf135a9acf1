"""q2: derivatives of the ReLU family, GELU and SiLU, graded against the autograd keys."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.runner import run_criteria
from grader.rubric.exercises import q02_relu_family as q2
from helpers import grade_source, namespace_of, points, run_plan, failed, message_of

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in the students' exp

SEEDS = (0, 1, 2, 12345)
CRITERIA = {c.name: c for c in q2.EXERCISE.criteria}




def of(func: str, *fragments: str, alpha: bool | None = None) -> set[str]:
    """Criteria of ``func`` (with alpha=... or not, or both) whose names contain one of ``fragments``."""
    return {n for n in CRITERIA if n.split(" ")[0].split("(")[0] == func
            and (alpha is None or ("alpha=..." in n) == alpha)
            and (not fragments or any(f in n for f in fragments))}


SMALL, LARGE, RANDOM = ("+-1e-12",), ("+-1000",), ("0-d", "1-d", "rank 2", "every rank")
(UNMUTATED,) = [n for n in CRITERIA if "not modified" in n]
RELU, LEAKY, ELU, GELU, SILU = (of(f) for f in q2.NAMES)
LEAKY_ALPHA, ELU_ALPHA = of("leaky_relu_derivative", alpha=True), of("elu_derivative", alpha=True)
OF_FUNCTION = dict(zip(q2.NAMES, (RELU, LEAKY, ELU, GELU, SILU)))

WITH_WHERE = """
import numpy as np

def relu_derivative(x):
    return np.where(x > 0, 1.0, 0.0)

def leaky_relu_derivative(x, alpha=0.01):
    return np.where(x > 0, 1.0, alpha)

def elu_derivative(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))

def gelu_derivative(x):
    c = np.sqrt(2.0 / np.pi)
    t = np.tanh(c * (x + 0.044715 * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * c * (1.0 + 3 * 0.044715 * x**2)

def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

def silu_derivative(x):
    s = sigmoid(x)
    return s * (1.0 + x * (1.0 - s))
"""

WITH_MASKS = """
import numpy as np

def relu_derivative(x):
    return np.heaviside(x, 0.0)

def leaky_relu_derivative(x, alpha=0.01):
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, alpha)
    out[x > 0] = 1.0
    return out

def elu_derivative(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    out = np.ones(x.shape)
    negative = x <= 0
    out[negative] = alpha * np.exp(x[negative])
    return out

def gelu_derivative(x):
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
    sech2 = 1.0 / np.cosh(u) ** 2
    return 0.5 * (1 + np.tanh(u)) + 0.5 * x * sech2 * np.sqrt(2 / np.pi) * (1 + 0.134145 * x**2)

def silu_derivative(x):
    s = np.exp(-np.logaddexp(0.0, -x))   # sigmoid, without overflow
    return s + x * s * (1 - s)
"""


def replacing(source: str, definition: str) -> str:
    """``source`` with one function redefined (the later definition wins)."""
    return source + "\n" + definition


def test_points_and_names_follow_the_contract():
    ex = q2.EXERCISE
    assert (ex.id, ex.points) == ("q2", 10)
    assert ex.names == ("relu_derivative", "leaky_relu_derivative", "elu_derivative", "gelu_derivative",
                        "silu_derivative")
    assert sum(c.points for c in ex.criteria) == ex.points
    assert len(CRITERIA) == len(ex.criteria)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [WITH_WHERE, WITH_MASKS], ids=["where", "masks"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade_source("q2", source, seed)
    assert failed(results) == set()
    assert points(results) == 10


WRONG = {
    "relu_one_at_zero": ("def relu_derivative(x):\n    return np.where(x >= 0, 1.0, 0.0)",
                         of("relu_derivative", *SMALL), "test x > 0, not x >= 0"),
    "relu_itself": ("def relu_derivative(x):\n    return np.maximum(x, 0.0)", RELU, "relu(x) itself"),
    # the default alpha is 0.01: only the calls that pass alpha=... see the fixed slope
    "leaky_fixed_slope": ("def leaky_relu_derivative(x, alpha=0.01):\n    return np.where(x > 0, 1.0, 0.01)",
                          LEAKY_ALPHA, "alpha is ignored"),
    "leaky_alpha_times_x": ("def leaky_relu_derivative(x, alpha=0.01):\n    return np.where(x > 0, 1, alpha * x)",
                            LEAKY, "alpha * x is leaky_relu itself"),
    "leaky_one_at_zero": ("def leaky_relu_derivative(x, alpha=0.01):\n    return np.where(x >= 0, 1.0, alpha)",
                          of("leaky_relu_derivative", *SMALL, "edge values"), "alpha at x = 0"),
    "elu_activation": ("def elu_derivative(x, alpha=1.0):\n    return np.where(x > 0, 1.0, alpha * (np.exp(x) - 1))",
                       ELU, "alpha * (exp(x) - 1) is elu itself"),
    # the default alpha is 1: only the calls that pass alpha=... see the missing factor
    "elu_without_alpha": ("def elu_derivative(x, alpha=1.0):\n    return np.where(x > 0, 1.0, np.exp(x))",
                          ELU_ALPHA, "the factor alpha is missing"),
    # the two forms agree at +-50 and beyond, but edge values count only for a function right on random inputs
    "gelu_erf_form": ("from scipy.special import erf\n"
                      "def gelu_derivative(x):\n"
                      "    return 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)",
                      GELU, "this is the derivative of the erf form of GELU; the "
                                                            "contract uses the tanh approximation"),
    "silu_nan_at_minus_1000": ("def silu_derivative(x):\n"
                               "    return 1 / (1 + np.exp(-x)) + x * np.exp(-x) / (1 + np.exp(-x))**2",
                               of("silu_derivative", *LARGE), "inf / inf is nan"),
    # sigmoid(x) and silu'(x) agree to 1e-20 at +-50 and beyond: not earned, it is wrong on every random input
    "silu_sigmoid_only": ("def silu_derivative(x):\n    return 1 / (1 + np.exp(-x))",
                          SILU, "only the first term of the product rule"),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_a_realistic_mistake_fails_its_criteria_with_its_hint(case):
    definition, failing, hint = WRONG[case]
    results = grade_source("q2", replacing(WITH_WHERE, definition), 0)
    assert failed(results) == failing
    for name in failing:  # a gated criterion refers to the failing ones, which carry the hint
        assert hint in message_of(results, name) or "not awarded yet" in message_of(results, name)
    assert any(hint in message_of(results, name) for name in failing)
    assert points(results) == 10 - sum(CRITERIA[n].points for n in failing)


MISTAKES = [(func, wrong, meaning) for func, mistakes in [
    ("relu_derivative", q2.RELU_MISTAKES), ("leaky_relu_derivative", q2.LEAKY_MISTAKES),
    ("elu_derivative", q2.ELU_MISTAKES), ("gelu_derivative", q2.GELU_MISTAKES),
    ("silu_derivative", q2.SILU_MISTAKES)] for wrong, meaning in mistakes]


@pytest.mark.parametrize("func, wrong, meaning", MISTAKES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(MISTAKES)])
def test_every_recognised_mistake_is_named_when_made(func, wrong, meaning):
    plan = q2.plan(0)
    ns = namespace_of(WITH_WHERE)
    ns[func] = wrong
    results = run_criteria(q2.EXERCISE.criteria, plan, run_plan(plan, ns))
    assert failed(results) and failed(results) <= OF_FUNCTION[func]
    assert any(meaning in r.message for r in results if not r.passed)


@pytest.mark.parametrize("func", q2.NAMES)
def test_a_missing_function_costs_only_its_own_criteria(func):
    ns = namespace_of(WITH_WHERE)
    del ns[func]
    plan = q2.plan(0)
    results = run_criteria(q2.EXERCISE.criteria, plan, run_plan(plan, ns))
    assert failed(results) == OF_FUNCTION[func]
    assert all(f"{func} is not defined" in message_of(results, n) for n in OF_FUNCTION[func])


def test_nothing_defined_scores_zero():
    results = grade_source("q2", "import numpy as np\n", 0)
    assert points(results) == 0


def test_an_implementation_that_modifies_its_input_loses_only_that_criterion():
    in_place = ("def relu_derivative(x):\n"
                "    x[x <= 0] = 0.0\n"
                "    x[x > 0] = 1.0\n"
                "    return x")
    results = grade_source("q2", replacing(WITH_WHERE, in_place), 0)
    assert failed(results) == {UNMUTATED}
    assert "modified its input argument 1 in place" in message_of(results, UNMUTATED)
    assert points(results) == 9


def _signature(plan):
    return [(c.id, c.func, dict(c.kwargs), [np.asarray(a).tolist() for a in c.args]) for c in plan.calls]


def test_the_plan_is_reproducible_and_depends_on_the_seed():
    assert _signature(q2.plan(7)) == _signature(q2.plan(7))
    assert _signature(q2.plan(7)) != _signature(q2.plan(8))


def test_the_plan_probes_zero_every_rank_and_both_ways_of_passing_alpha():
    plan = q2.plan(0)
    for func in q2.NAMES:
        calls = [c for c in plan.calls if c.func == func]
        assert {np.ndim(c.args[0]) for c in calls} == {0, 1, 2, 3}
        assert any(np.any(c.args[0] == 0.0) for c in calls)
        assert any(not c.kwargs for c in calls)
    for func, default in [("leaky_relu_derivative", 0.01), ("elu_derivative", 1.0)]:
        alphas = {c.kwargs["alpha"] for c in plan.calls if c.func == func and c.kwargs}
        assert len(alphas) == 1 and default not in alphas
        edges = plan.call(f"{func},alpha={alphas.pop()}/small{q2.ALPHA}")
        at_zero = plan.expected[edges.id][edges.args[0] == 0.0]
        assert at_zero.tolist() == [edges.kwargs["alpha"]]  # the derivative at x = 0 is alpha


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_seed_grades_a_correct_answer_right_and_a_slightly_scaled_one_wrong(seed):
    assert points(grade_source("q2", WITH_MASKS, seed)) == 10
    scaled = "_g = gelu_derivative\ndef gelu_derivative(x):\n    return _g(x) * (1 + 1e-5)"
    assert failed(grade_source("q2", replacing(WITH_MASKS, scaled), seed)) == GELU
