"""q10 (per-layer gradient norms): right and wrong submissions against the rubric."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.runner import Criterion, run_criteria
from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises.q10_deep_gradients import BAD_ACTIVATIONS, MISTAKES
from helpers import criterion_named, grade_quietly, failed, message_of as message, namespace_of, points, run_plan, wire_call
from variants import derive

EXERCISE = EXERCISES["q10"]
SEEDS = (0, 1, 2, 12345)

grade = partial(grade_quietly, "q10")
criterion = partial(criterion_named, EXERCISE)


SHAPE = criterion("shape (L,)")
FINITE = criterion("finite and non-negative")
SIGMOID = {c.name for c in EXERCISE.criteria if c.name.startswith("sigmoid networks")}  # depth 2-3, 6-10
RELU = {c.name for c in EXERCISE.criteria if c.name.startswith("ReLU networks")}
KINK = criterion("ReLU derivative 0 at 0")
VANISHING = criterion("vanish towards the input")
VALUE_ERROR = criterion("raises ValueError")
UNMUTATED = criterion("not modified")
VALUES = SIGMOID | RELU | {KINK}
#: Counted once some network's norms are right: lost too by an answer wrong on every network.
GATED = {c.name for c in EXERCISE.criteria if c.gate}
NOTHING_RIGHT = VALUES | GATED

CACHED_BACKPROP = """
import numpy as np

def layer_gradient_norms(weights, x, y, activation):
    if activation == "sigmoid":
        act = lambda z: 1.0 / (1.0 + np.exp(-z))
        dact = lambda z, h: h * (1.0 - h)
    elif activation == "relu":
        act = lambda z: np.maximum(z, 0.0)
        dact = lambda z, h: (z > 0).astype(float)
    else:
        raise ValueError(f"unknown activation {activation!r}")
    hs, zs = [x], []
    for W in weights[:-1]:
        zs.append(hs[-1] @ W)
        hs.append(act(zs[-1]))
    out = hs[-1] @ weights[-1]
    delta = (out - y) / x.shape[0]
    grads = [None] * len(weights)
    grads[-1] = hs[-1].T @ delta
    for l in range(len(weights) - 2, -1, -1):
        delta = (delta @ weights[l + 1].T) * dact(zs[l], hs[l + 1])
        grads[l] = hs[l].T @ delta
    return np.array([np.linalg.norm(g) for g in grads])
"""

GRAD_H_LOOP = """
import numpy as np
from scipy.special import expit

def layer_gradient_norms(weights, x, y, activation):
    if activation not in ("sigmoid", "relu"):
        raise ValueError("activation must be 'sigmoid' or 'relu'")
    L = len(weights)
    inputs = []                      # the input of every layer
    h = np.array(x, dtype=float)
    for l, W in enumerate(weights):
        inputs.append(h)
        z = np.dot(h, W)
        if l < L - 1:
            h = expit(z) if activation == "sigmoid" else np.where(z > 0, z, 0.0)
        else:
            h = z
    grad_h = (h - y) / len(x)        # d loss / d output
    norms = []
    for l in reversed(range(L)):
        grad_W = np.dot(inputs[l].T, grad_h)
        norms.insert(0, float(np.sqrt(np.sum(grad_W ** 2))))
        grad_h = np.dot(grad_h, weights[l].T)
        if l > 0:
            a = inputs[l]
            grad_h = grad_h * (a * (1 - a) if activation == "sigmoid" else (a > 0))
    return norms
"""


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [CACHED_BACKPROP, GRAD_H_LOOP], ids=["cached-backprop", "grad-h-loop"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade(source, seed)
    assert failed(results) == set(), "\n".join(r.message for r in results if not r.passed)
    assert points(results) == EXERCISE.points == 14


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_correct_implementation_gets_full_marks_for_any_seed(seed):
    assert points(grade(GRAD_H_LOOP, seed)) == 14


def _replace(old: str, new: str, source: str = CACHED_BACKPROP) -> str:
    return derive(source, ((old, new),), variant=f"q10 mistake {old[:30]!r}")


RETURN = "    return np.array([np.linalg.norm(g) for g in grads])\n"

# (source, the criteria it fails, a fragment of the hint in a failing one's message[, criteria it may fail too])
# Answers wrong on every network lose the gated criteria too (shape, finiteness, ratio, ValueError, not
# modified): they reward norms that are right somewhere.
WRONG = {
    "no division by batch": (_replace("delta = (out - y) / x.shape[0]", "delta = out - y"), NOTHING_RIGHT,
                             "divide by batch"),
    "no factor 0.5": (_replace("delta = (out - y) / x.shape[0]", "delta = 2 * (out - y) / x.shape[0]"), NOTHING_RIGHT,
                      "the loss has a factor 0.5"),
    "activation on the output layer": (
        _replace("    delta = (out - y) / x.shape[0]\n",
                 "    z_out = out\n    out = act(z_out)\n    delta = (out - y) / x.shape[0] * dact(z_out, out)\n"),
        NOTHING_RIGHT, "you applied the activation to the output layer too"),
    "reverse order": (_replace(RETURN, "    return np.array([np.linalg.norm(g) for g in grads[::-1]])\n"),
                      NOTHING_RIGHT, "the norms are in reverse order"),
    "mean of |gradient|": (_replace(RETURN, "    return np.array([np.mean(np.abs(g)) for g in grads])\n"), NOTHING_RIGHT,
                           "this is the mean of |gradient|"),
    "mean of the gradient": (_replace(RETURN, "    return np.array([np.mean(g) for g in grads])\n"),
                             NOTHING_RIGHT, "this is the mean of the gradient"),
    "root mean square": (_replace(RETURN, "    return np.array([np.sqrt(np.mean(g ** 2)) for g in grads])\n"),
                         NOTHING_RIGHT, "this is the root mean square"),
    "squared norms": (_replace(RETURN, "    return np.array([np.sum(g ** 2) for g in grads])\n"), NOTHING_RIGHT,
                      "these are the squared norms"),
    "relu'(0) = 1": (_replace("(z > 0)", "(z >= 0)"), {KINK}, "you used relu'(0) = 1"),
    "unknown activation accepted": (_replace('raise ValueError(f"unknown activation {activation!r}")',
                                             "act, dact = np.tanh, lambda z, h: 1 - h ** 2"), {VALUE_ERROR},
                                    "raise ValueError"),
    "gradients instead of norms": (_replace(RETURN, "    return grads\n"), NOTHING_RIGHT,
                                   "return the norms"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_recognised_mistake_fails_its_criteria_with_its_hint(name):
    source, criteria, hint, *maybe = WRONG[name]
    for seed in (0, 12345):
        results = grade(source, seed)
        assert criteria <= failed(results) <= criteria | (maybe[0] if maybe else set()), \
            "\n".join(r.message for r in results if not r.passed)
        assert any(hint in r.message for r in results if not r.passed)
        assert points(results) == 14 - sum(c.points for c in EXERCISE.criteria if c.name in failed(results))


def test_every_recognised_mistake_has_a_submission_showing_its_hint():
    feedback = "\n".join(r.message for source, *_ in WRONG.values() for r in grade(source))
    for _, meaning in MISTAKES:
        assert meaning in feedback, meaning


def test_reversed_norms_are_named_by_the_vanishing_check_too():
    # the vanishing check itself (without its gate, which reversed norms do not meet)
    plan = EXERCISE.plan(0)
    ungated = [Criterion(c.name, c.points, c.check) for c in EXERCISE.criteria if c.name == VANISHING]
    (result,) = run_criteria(ungated, plan, run_plan(plan, namespace_of(WRONG["reverse order"][0])))
    assert "the norms look reversed" in result.message
    assert "not awarded yet" in message(grade(WRONG["reverse order"][0]), VANISHING)


def test_a_sigmoid_derivative_for_relu_breaks_the_healthy_relu_stack():
    source = _replace("dact = lambda z, h: (z > 0).astype(float)", "dact = lambda z, h: 0.25 * (z > 0)")
    results = grade(source)
    assert failed(results) == RELU | {KINK, VANISHING}
    assert "is orders of magnitude below the last's" in message(results, VANISHING)


def test_a_missing_function_costs_the_whole_exercise_and_says_so():
    results = grade("import numpy as np\n")
    assert failed(results) == {c.name for c in EXERCISE.criteria}
    assert all("layer_gradient_norms is not defined" in message(results, name) for name in SIGMOID)


def test_a_mutating_implementation_loses_exactly_the_not_modified_criterion():
    source = _replace(RETURN, "    weights.reverse()\n" + RETURN)
    results = grade(source)
    assert failed(results) == {UNMUTATED}
    assert "modified its input argument 1[0]" in message(results, UNMUTATED)
    source = _replace(RETURN, "    x[...] = 0.0  # 'free' the input\n" + RETURN)
    results = grade(source)
    assert failed(results) == {UNMUTATED}
    assert "modified its input argument 2 in place" in message(results, UNMUTATED)


def test_the_plan_covers_depths_activations_batches_and_the_kink():
    plan = EXERCISE.plan(0)
    norm_calls = [c for c in plan.calls if c.id in plan.expected]
    assert {(len(c.args[0]), c.args[3]) for c in norm_calls} >= {
        (L, a) for L in (2, 3, 6, 10) for a in ("sigmoid", "relu")}
    assert all(c.args[1].shape[0] > 2 for c in norm_calls)  # batch > 2 tells /batch from the 0.5 factor
    assert [c.args[3] for c in plan.calls if c.id.startswith("layer_gradient_norms/bad/")] == list(BAD_ACTIVATIONS)
    kink = plan.call("layer_gradient_norms/relu/kink")
    weights, x = kink.args[0], kink.args[1]
    assert all(np.array_equal(W, np.round(W)) for W in weights) and np.array_equal(x, np.round(x))
    assert np.any(x @ weights[0] == 0)


def test_the_plan_is_reproducible_for_a_seed_and_differs_between_seeds():
    p1, p2, p3 = EXERCISE.plan(7), EXERCISE.plan(7), EXERCISE.plan(8)
    assert [wire_call(c) for c in p1.calls] == [wire_call(c) for c in p2.calls]
    assert all(np.array_equal(p1.expected[k], p2.expected[k]) for k in p1.expected)
    assert [wire_call(c) for c in p1.calls] != [wire_call(c) for c in p3.calls]


def test_the_rubric_matches_the_contract():
    assert EXERCISE.id == "q10" and EXERCISE.points == 14
    assert EXERCISE.names == ("layer_gradient_norms",)
    assert sum(c.points for c in EXERCISE.criteria) == 14
    assert len({c.name for c in EXERCISE.criteria}) == len(EXERCISE.criteria)
