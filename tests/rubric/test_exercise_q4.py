"""q4: stable softmax along any axis, graded against the reference forward function."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from grader.rubric.runner import run_criteria
from grader.rubric.gates import informative
from grader.rubric.exercises import q04_softmax as q4
from grader.rubric.probes import Plan
from helpers import grade_source, namespace_of, points, run_plan, failed, message_of
from reference import forward as F

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in the students' exp

SEEDS = (0, 1, 2, 12345)
CRITERIA = {c.name: c for c in q4.EXERCISE.criteria}


def named(fragment: str) -> str:
    """The one criterion whose name starts with ``fragment``."""
    (name,) = [n for n in CRITERIA if n.startswith(fragment)]
    return name


RANDOM_1D, RANDOM_ND = named("softmax matches the reference on random 1-d"), named("softmax matches the reference on random logits of rank")
AXIS0, AXIS1 = named("softmax(z, axis=0)"), named("softmax(z, axis=1)")
EDGES_UP, EDGES_DOWN = named("softmax is finite and accurate for large logits"), named("softmax is finite and accurate for equal")
LARGE_1D, LARGE_2D = named("softmax is finite and accurate for a 1-d z"), named("softmax is finite and accurate in every row")
SUMS, SHIFT, UNMUTATED = named("softmax sums to 1"), named("softmax(z + c)"), named("inputs are not modified")
RANDOM, AXES, EDGES, LARGE = {RANDOM_1D, RANDOM_ND}, {AXIS0, AXIS1}, {EDGES_UP, EDGES_DOWN}, {LARGE_1D, LARGE_2D}
GATED = {c.name for c in q4.EXERCISE.criteria if c.gate}

MAX_SHIFT = """
import numpy as np

def softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
"""

LOGSUMEXP = """
import numpy as np
from scipy.special import logsumexp

def softmax(z, axis=-1):
    return np.exp(z - logsumexp(z, axis=axis, keepdims=True))
"""

SLICE_LOOP = """
import numpy as np

def softmax(z, axis=-1):
    moved = np.moveaxis(np.array(z, dtype=float), axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
"""


def test_points_and_names_follow_the_contract():
    ex = q4.EXERCISE
    assert (ex.id, ex.points, ex.names) == ("q4", 10, ("softmax",))
    assert sum(c.points for c in ex.criteria) == ex.points


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [MAX_SHIFT, LOGSUMEXP, SLICE_LOOP], ids=["max-shift", "logsumexp", "slice-loop"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade_source("q4", source, seed)
    assert failed(results) == set()
    assert points(results) == 10


def softmax_with(body: str) -> str:
    return f"import numpy as np\n\ndef softmax(z, axis=-1):\n{body}\n"


WRONG = {
    "no_max_subtracted": ("    e = np.exp(z)\n    return e / e.sum(axis=axis, keepdims=True)",
                          EDGES | LARGE, "subtract the maximum before exponentiating"),
    "global_max_subtracted": ("    e = np.exp(z - np.max(z))\n    return e / e.sum(axis=axis, keepdims=True)",
                              {LARGE_2D}, "the maximum of the whole array is subtracted"),
    "axis_ignored": ("    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)",
                     AXES | {SUMS, SHIFT}, "this normalises along axis"),
    "whole_array_normalised": ("    e = np.exp(z - z.max())\n    return e / e.sum()",
                               AXES | {RANDOM_ND, LARGE_2D, SUMS, SHIFT}, "this normalises over the whole array"),
    "keepdims_missing": ("    e = np.exp(z - np.max(z, axis=axis))\n    return e / np.sum(e, axis=axis)",
                         # right on 1-d z and along axis 0, where max and sum broadcast; those calls modify nothing
                         set(CRITERIA) - EDGES - {RANDOM_1D, AXIS0, LARGE_1D, UNMUTATED}, "pass keepdims=True"),
}


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
def test_a_realistic_mistake_fails_its_criteria_with_its_hint(case):
    body, failing, hint = WRONG[case]
    for seed in SEEDS:
        results = grade_source("q4", softmax_with(body), seed)
        assert failed(results) == failing
        assert any(hint in message_of(results, name) for name in failing)


def test_a_softmax_without_the_maximum_is_reported_as_not_finite_at_the_edges():
    results = grade_source("q4", softmax_with(WRONG["no_max_subtracted"][0]), 0)
    failure = next(r.failure for r in results if r.name == EDGES_UP)
    assert type(failure).__name__ == "NotFinite"
    assert "returned nan at z = 1000" in str(failure)


def _mistake(index: int):
    return lambda z, axis=-1: list(q4.known_mistakes(np.asarray(z), axis))[index][0]


RECOGNISED = [(_mistake(0), q4.STABILITY_HINT), (_mistake(1), q4.GLOBAL_MAX_HINT),
              (_mistake(2), "this normalises over the whole array"),
              (lambda z, axis=-1: F.softmax(z, axis=(axis + 1) % np.ndim(z)), "not along axis=")]


@pytest.mark.parametrize("student, meaning", RECOGNISED, ids=["naive", "global-max", "whole-array", "other-axis"])
def test_every_recognised_mistake_is_named_when_made(student, meaning):
    plan = q4.plan(0)
    results = run_criteria(q4.EXERCISE.criteria, plan, run_plan(plan, {"softmax": student}))
    assert failed(results)
    assert any(meaning in r.message for r in results if not r.passed)


def test_a_missing_function_costs_the_whole_exercise_and_says_so():
    results = grade_source("q4", "import numpy as np\n", 0)
    assert points(results) == 0
    assert all("softmax is not defined" in r.message for r in results)


def test_an_implementation_that_modifies_its_input_loses_only_that_criterion():
    in_place = softmax_with("    z -= z.max(axis=axis, keepdims=True)\n"
                            "    np.exp(z, out=z)\n"
                            "    z /= z.sum(axis=axis, keepdims=True)\n"
                            "    return z")
    results = grade_source("q4", in_place, 0)
    assert failed(results) == {UNMUTATED}
    assert points(results) == 9


def _signature(plan):
    return [(c.id, dict(c.kwargs), c.args[0].tolist()) for c in plan.calls]


def test_the_plan_is_reproducible_and_depends_on_the_seed():
    assert _signature(q4.plan(5)) == _signature(q4.plan(5))
    assert _signature(q4.plan(5)) != _signature(q4.plan(6))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_plan_covers_ranks_axes_edges_large_logits_and_shifted_pairs(seed):
    plan = q4.plan(seed)
    assert {c.args[0].ndim for c in plan.calls} == {1, 2, 3}
    assert {c.kwargs.get("axis") for c in plan.calls} == {None, 0, 1}
    assert plan.call("softmax/edge-1000").args[0].tolist() == [1000.0, 999.0, 998.0]
    assert plan.call("softmax/edge-minus1000").args[0].tolist() == [-1000.0, -1000.0]
    large = plan.call("softmax/large2d").args[0]
    assert np.abs(large).max() <= 1e4
    row_max = large.max(axis=1)
    assert row_max.max() - row_max.min() > 1000  # exp(-1000) underflows: a global maximum cannot serve every row
    for shifted in [c for c in plan.calls if c.id.endswith(q4.SHIFTED)]:
        base = plan.call(shifted.id[:-len(q4.SHIFTED)])
        axis = base.kwargs.get("axis", -1)
        assert shifted.kwargs == base.kwargs
        difference = shifted.args[0] - base.args[0]
        assert np.ptp(difference, axis=axis).max() < 1e-10 and np.abs(difference).max() > 1


def _one_call_plan(z: np.ndarray, axis: int) -> Plan:
    plan = Plan("q4", 0, [])
    q4.add_call(plan, f"rank{z.ndim}", z, "z from hypothesis", axis)
    return plan


LOGITS = arrays(np.float64, array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
                elements=st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(z=LOGITS, data=st.data())
def test_correct_softmaxes_pass_on_any_logits_and_a_slightly_scaled_one_does_not(z, data):
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1), label="axis")
    plan = _one_call_plan(z, axis)
    # a plan of one call: the gated criteria count only if its softmax is not constant (z has 2 distinct values)
    works = informative(plan.expected[plan.calls[0].id])
    for source in (MAX_SHIFT, LOGSUMEXP, SLICE_LOOP):
        results = run_criteria(q4.EXERCISE.criteria, plan, run_plan(plan, namespace_of(source)))
        assert failed(results) == (set() if works else GATED)
    ns = namespace_of(MAX_SHIFT)
    correct = ns["softmax"]
    ns["softmax"] = lambda z, axis=-1: correct(z, axis) * (1 + 1e-5)
    values = RANDOM_1D if z.ndim == 1 else RANDOM_ND
    assert failed(run_criteria(q4.EXERCISE.criteria, plan, run_plan(plan, ns))) == {values} | GATED


@settings(derandomize=True, max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_seed_grades_correct_answers_right(seed):
    assert points(grade_source("q4", LOGSUMEXP, seed)) == 10
