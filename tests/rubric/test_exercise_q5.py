"""q5: the softmax Jacobian from s = softmax(z), graded against the autograd Jacobian at z."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from grader.rubric.runner import Criterion, run_criteria
from grader.rubric.exercises import q05_softmax_jacobian as q5
from grader.rubric.probes import Plan
from helpers import grade_source, namespace_of, points, run_plan, failed, message_of
from reference import forward as F

SEEDS = (0, 1, 2, 12345)
CRITERIA = {c.name: c for c in q5.EXERCISE.criteria}


def named(fragment: str) -> str:
    """The one criterion whose name starts with ``fragment``."""
    (name,) = [n for n in CRITERIA if n.startswith(fragment)]
    return name


N2, SMALL, N10 = (named(f"softmax_jacobian matches d softmax(z)_i / d z_j for random z with n = {n}")
                  for n in ("2", "3 to 6", "8 to 12"))
RANDOM = {N2, SMALL, N10}
PEAKED, SHAPE = named("softmax_jacobian is accurate"), named("softmax_jacobian returns")
GATED = {c.name for c in q5.EXERCISE.criteria if c.gate}
#: The criteria without their gates: to show that each property check, by itself, catches a mistake.
UNGATED = [Criterion(c.name, c.points, c.check) for c in q5.EXERCISE.criteria]
SYMMETRIC, ROWS, PSD = named("J is symmetric"), named("the rows of J"), named("J is positive")
UNMUTATED = named("inputs are not modified")

OUTER = """
import numpy as np

def softmax_jacobian(s):
    return np.diag(s) - np.outer(s, s)
"""

DOUBLE_LOOP = """
import numpy as np

def softmax_jacobian(s):
    n = len(s)
    J = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            J[i, j] = s[i] * ((1.0 if i == j else 0.0) - s[j])
    return J
"""

BROADCAST = """
import numpy as np

def softmax_jacobian(s):
    return s[:, None] * (np.eye(len(s)) - s[None, :])
"""


def test_points_and_names_follow_the_contract():
    ex = q5.EXERCISE
    assert (ex.id, ex.points, ex.names) == ("q5", 10, ("softmax_jacobian",))
    assert sum(c.points for c in ex.criteria) == ex.points


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [OUTER, DOUBLE_LOOP, BROADCAST], ids=["outer", "double-loop", "broadcast"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade_source("q5", source, seed)
    assert failed(results) == set()
    assert points(results) == 10


def jacobian_as(body: str) -> str:
    return f"import numpy as np\n\ndef softmax_jacobian(s):\n    return {body}\n"


# (body, the criteria its checks fail without gates, hint). With the gates, a J that is wrong for every s earns
# nothing: a sign-flipped J is still symmetric with zero row sums, as J = 0 is, but that rewards no work.
WRONG = {
    "sign_flipped": ("np.outer(s, s) - np.diag(s)", RANDOM | {PEAKED, PSD}, "the sign is flipped"),
    "diag_only": ("np.diag(s)", RANDOM | {PEAKED, ROWS}, "this is diag(s)"),
    "outer_with_one_minus_s": ("np.outer(s, 1 - s)", RANDOM | {PEAKED, SYMMETRIC, ROWS, PSD},
                               "1 - s_j belongs on the diagonal only"),
    "inner_product": ("np.diag(s) - s @ s.T", RANDOM | {PEAKED, ROWS, PSD}, "is a number, the inner product"),
    "diagonal_vector": ("s * (1 - s)", set(CRITERIA) - {UNMUTATED}, "not only its diagonal"),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_a_realistic_mistake_fails_its_criteria_with_its_hint(case):
    body, failing, hint = WRONG[case]
    for seed in SEEDS:
        results = grade_source("q5", jacobian_as(body), seed)
        assert failed(results) == set(CRITERIA)
        assert all(hint in message_of(results, name) for name in RANDOM)
        plan = q5.plan(seed)
        results = run_criteria(UNGATED, plan, run_plan(plan, namespace_of(jacobian_as(body))))
        assert failed(results) == failing


@pytest.mark.parametrize("mistake, meaning", q5.MISTAKES, ids=[f"mistake{i}" for i in range(len(q5.MISTAKES))])
def test_every_recognised_mistake_is_named_when_made(mistake, meaning):
    plan = q5.plan(0)
    results = run_criteria(q5.EXERCISE.criteria, plan, run_plan(plan, {"softmax_jacobian": mistake}))
    assert RANDOM <= failed(results)
    assert all(meaning in message_of(results, name) for name in RANDOM)


def test_a_missing_function_costs_the_whole_exercise_and_says_so():
    results = grade_source("q5", "import numpy as np\n", 0)
    assert points(results) == 0
    assert all("softmax_jacobian is not defined" in r.message for r in results)


def test_an_implementation_that_modifies_its_input_loses_only_that_criterion():
    in_place = """
import numpy as np

def softmax_jacobian(s):
    J = -np.outer(s, s)
    s -= s ** 2                       # s now holds the diagonal s * (1 - s)
    J[np.diag_indices_from(J)] = s
    return J
"""
    results = grade_source("q5", in_place, 0)
    assert failed(results) == {UNMUTATED}
    assert points(results) == 9


def _signature(plan):
    return [(c.id, c.args[0].tolist()) for c in plan.calls]


def test_the_plan_is_reproducible_and_depends_on_the_seed():
    assert _signature(q5.plan(9)) == _signature(q5.plan(9))
    assert _signature(q5.plan(9)) != _signature(q5.plan(10))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_plan_sends_probability_vectors_of_several_sizes_and_one_peaked(seed):
    plan = q5.plan(seed)
    sizes = set()
    for call in plan.calls:
        (s,) = call.args
        assert s.ndim == 1 and np.all(s > 0) and abs(s.sum() - 1) < 1e-12
        assert plan.expected[call.id].shape == (s.size, s.size)
        sizes.add(s.size)
    assert 2 in sizes and max(sizes) >= 8
    assert plan.call("softmax_jacobian/peaked").args[0].max() > 1 - 1e-6


@settings(derandomize=True, max_examples=60, deadline=None)
@given(z=arrays(np.float64, st.integers(2, 12), elements=st.floats(-5, 5, allow_subnormal=False)))
def test_correct_jacobians_pass_for_any_logits_and_a_slightly_scaled_one_does_not(z):
    plan = Plan("q5", 0, [])
    q5.add_call(plan, "small", z, "z from hypothesis")
    for source in (OUTER, DOUBLE_LOOP, BROADCAST):
        assert failed(run_criteria(q5.EXERCISE.criteria, plan, run_plan(plan, namespace_of(source)))) == set()
    scaled = lambda s: (np.diag(s) - np.outer(s, s)) * (1 + 1e-5)  # noqa: E731
    assert failed(run_criteria(q5.EXERCISE.criteria, plan, run_plan(plan, {"softmax_jacobian": scaled}))) == (
        {SMALL} | GATED)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(z=arrays(np.float64, st.integers(2, 12), elements=st.floats(-50, 50, allow_subnormal=False)))
def test_the_property_checks_accept_the_reference_jacobian_at_any_logits(z):
    # symmetry, zero row sums and the eigenvalue tolerance hold for the exact Jacobian, however peaked s is
    plan = Plan("q5", 0, [])
    q5.add_call(plan, "peaked", z, "z from hypothesis")
    key = plan.expected["softmax_jacobian/peaked"]
    s = np.asarray(F.softmax(z))
    results = run_criteria(UNGATED, plan, run_plan(plan, {"softmax_jacobian": lambda _: key}))
    assert failed(results) == set()
    assert np.allclose(key, np.diag(s) - np.outer(s, s), rtol=0, atol=1e-15)
