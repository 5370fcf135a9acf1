"""q7 (initialisation variances): right and wrong submissions against the rubric."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises.q07_initialisation import (BAD_SCHEMES, DRAWS, HE_MISTAKES, XAVIER_MISTAKES, StandardBounds,
                                             _variance_mistakes)
from grader.rubric.probes import Rng
from helpers import criterion_named, grade_quietly, points, wire_call, failed, message_of as message
from variants import derive

EXERCISE = EXERCISES["q7"]
SEEDS = (0, 1, 2, 12345)

grade = partial(grade_quietly, "q7")
criterion = partial(criterion_named, EXERCISE)


XAVIER = criterion("xavier_variance(n_in, n_out)")
HE = criterion("he_variance(n_in)")
SHAPE = criterion("returns shape")
MEAN = criterion("sample mean")
VAR_X, VAR_H = criterion("'xavier', rng): the sample variance"), criterion("'he', rng): the sample variance")
VARIANCE = {VAR_X, VAR_H}
NORMAL = criterion("normally distributed")
REPRO = criterion("same seed")
VALUE_ERROR = criterion("raises ValueError")
STATISTICAL = {MEAN, NORMAL} | VARIANCE
#: What init_weights earns; all of it is lost when no draw has the right variance (the gate of the others).
INIT = VARIANCE | {SHAPE, MEAN, NORMAL, REPRO, VALUE_ERROR}

NORMAL_SCALE = """
import numpy as np

def xavier_variance(n_in, n_out):
    return 2 / (n_in + n_out)

def he_variance(n_in):
    return 2 / n_in

def init_weights(n_in, n_out, scheme, rng):
    if scheme == "xavier":
        var = xavier_variance(n_in, n_out)
    elif scheme == "he":
        var = he_variance(n_in)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return rng.normal(0.0, np.sqrt(var), size=(n_in, n_out))
"""

STANDARD_TIMES_STD = """
import math
import numpy as np

VARIANCES = {
    "xavier": lambda n_in, n_out: 2.0 / (n_in + n_out),
    "he": lambda n_in, n_out: 2.0 / n_in,
}

def xavier_variance(n_in, n_out):
    return VARIANCES["xavier"](n_in, n_out)

def he_variance(n_in):
    return VARIANCES["he"](n_in, None)

def init_weights(n_in, n_out, scheme, rng):
    if scheme not in VARIANCES:
        raise ValueError("scheme must be 'xavier' or 'he'")
    return rng.standard_normal((n_in, n_out)) * math.sqrt(VARIANCES[scheme](n_in, n_out))
"""

TRANSPOSED_DRAW = NORMAL_SCALE.replace("return rng.normal(0.0, np.sqrt(var), size=(n_in, n_out))",
                                       "return np.sqrt(var) * rng.normal(size=(n_out, n_in)).T")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("source", [NORMAL_SCALE, STANDARD_TIMES_STD, TRANSPOSED_DRAW],
                         ids=["normal-with-scale", "standard-normal-times-std", "transposed-draw"])
def test_correct_implementations_get_full_marks(source, seed):
    results = grade(source, seed)
    assert failed(results) == set(), "\n".join(r.message for r in results if not r.passed)
    assert points(results) == EXERCISE.points == 8


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_correct_implementation_passes_the_statistical_tests_for_any_seed(seed):
    assert failed(grade(STANDARD_TIMES_STD, seed)) == set()


def _replace(old: str, new: str, source: str = NORMAL_SCALE) -> str:
    return derive(source, ((old, new),), variant=f"q7 mistake {old[:30]!r}")


DRAW = "return rng.normal(0.0, np.sqrt(var), size=(n_in, n_out))"
HE_VAR = "        var = he_variance(n_in)\n"
XAVIER_VAR = "        var = xavier_variance(n_in, n_out)\n"

# (source, the criteria it fails, a fragment of the hint in the first failing one's message)
# Wrong variances for both schemes lose every init_weights criterion: mean, normality, shape,
# reproducibility and ValueError reward a function that draws right, never rng.standard_normal(shape) * 0.1.
WRONG = {
    "variance as the scale": (_replace("np.sqrt(var)", "var"), INIT, "you passed the variance as the scale"),
    "he with n_out": (_replace(HE_VAR, "        var = he_variance(n_out)\n"), {VAR_H},
                      "He's variance uses the fan-in"),
    "he with 1 / n_in": (_replace(HE_VAR, "        var = 1 / n_in\n"), {VAR_H}, "the variance is 1 / n_in; He's"),
    "he with the xavier variance": (_replace(HE_VAR, XAVIER_VAR), {VAR_H}, "this is Xavier's variance"),
    "xavier as 1 / (n_in + n_out)": (_replace("return 2 / (n_in + n_out)", "return 1 / (n_in + n_out)"),
                                     {XAVIER, VAR_X}, "the factor 2 is missing"),
    "xavier with the he variance": (_replace(XAVIER_VAR, "        var = 2 / n_in\n"), {VAR_X},
                                    "the variance is He's, 2 / n_in"),
    "xavier with 1 / n_in": (_replace(XAVIER_VAR, "        var = 1 / n_in\n"), {VAR_X},
                             "the variance is 1 / n_in; scheme 'xavier'"),
    "xavier with 2 / n_out": (_replace(XAVIER_VAR, "        var = 2 / n_out\n"), {VAR_X},
                              "the variance is 2 / n_out"),
    "unit variance": (_replace(DRAW, "return rng.normal(0.0, 1.0, size=(n_in, n_out))"), INIT,
                      "the weights have variance 1"),
    "uniform(-std, std)": (_replace(DRAW, "return rng.uniform(-np.sqrt(var), np.sqrt(var), size=(n_in, n_out))"),
                           INIT, "uniform(-s, s) has variance s**2 / 3"),
    "uniform with the right variance": (
        _replace(DRAW, "return rng.uniform(-np.sqrt(3 * var), np.sqrt(3 * var), size=(n_in, n_out))"),
        {NORMAL}, "the values look uniformly distributed"),
    "laplace with the right variance": (
        _replace(DRAW, "return rng.laplace(0.0, np.sqrt(var / 2), size=(n_in, n_out))"),
        {NORMAL}, "the values are not normally distributed"),
    "non-negative weights": (_replace(DRAW, "return rng.random((n_in, n_out)) * np.sqrt(var)"),
                             INIT, "every weight is >= 0"),
    "shifted mean": (_replace(DRAW, "return rng.normal(0.1, np.sqrt(var), size=(n_in, n_out))"),
                     {MEAN, NORMAL}, "the weights must have mean 0"),
    "shape (n_out, n_in)": (_replace("size=(n_in, n_out)", "size=(n_out, n_in)"), {SHAPE},
                            "the axes are swapped"),
    "global np.random": (_replace("rng.normal(", "np.random.normal("), {REPRO}, "never from np.random"),
    "generator with a fixed seed": (_replace("rng.normal(", "np.random.default_rng(0).normal("), {REPRO},
                                    "do not create a generator with a fixed seed"),
    "KeyError for an unknown scheme": (_replace("raise ValueError(", "raise KeyError("), {VALUE_ERROR},
                                       "raise ValueError"),
    "scheme is lower-cased": (_replace("def init_weights(n_in, n_out, scheme, rng):\n",
                                       "def init_weights(n_in, n_out, scheme, rng):\n    scheme = scheme.lower()\n"),
                              {VALUE_ERROR}, "raise ValueError"),
    "xavier_variance returns the std": (_replace("return 2 / (n_in + n_out)", "return (2 / (n_in + n_out)) ** 0.5"),
                                        {XAVIER, VAR_X}, "this is the standard deviation sqrt(2 / (n_in + n_out))"),
    "xavier_variance with He's formula": (_replace("return 2 / (n_in + n_out)", "return 2 / n_in"),
                                          {XAVIER, VAR_X}, "this is He's variance 2 / n_in"),
    "xavier_variance 1 / n_in": (_replace("return 2 / (n_in + n_out)", "return 1 / n_in"), {XAVIER, VAR_X},
                                 "this is 1 / n_in; Xavier's"),
    "xavier_variance with the product": (_replace("return 2 / (n_in + n_out)", "return 2 / (n_in * n_out)"),
                                         {XAVIER, VAR_X}, "not the product"),
    "xavier_variance upside down": (_replace("return 2 / (n_in + n_out)", "return (n_in + n_out) / 2"),
                                    {XAVIER, VAR_X}, "the fraction is upside down: 2 / (n_in + n_out)"),
    "he_variance 1 / n_in": (_replace("return 2 / n_in", "return 1 / n_in"), {HE, VAR_H},
                             "the factor 2 is missing"),
    "he_variance returns the std": (_replace("return 2 / n_in", "return (2 / n_in) ** 0.5"), {HE, VAR_H},
                                    "this is the standard deviation sqrt(2 / n_in)"),
    "he_variance upside down": (_replace("return 2 / n_in", "return n_in / 2"), {HE, VAR_H},
                                "the fraction is upside down: 2 / n_in"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_recognised_mistake_fails_its_criteria_with_its_hint(name):
    source, criteria, hint = WRONG[name]
    for seed in (0, 12345):
        results = grade(source, seed)
        assert failed(results) == criteria, "\n".join(r.message for r in results if not r.passed)
        first = next(r for r in results if not r.passed)
        assert "Hint: " in first.message and hint in first.message, first.message
        assert points(results) == 8 - sum(c.points for c in EXERCISE.criteria if c.name in criteria)


def test_every_recognised_mistake_has_a_submission_showing_its_hint():
    feedback = "\n".join(r.message for source, _, _ in WRONG.values() for r in grade(source))
    meanings = [m for _, m in XAVIER_MISTAKES + HE_MISTAKES]
    for scheme, n_in, n_out in DRAWS:
        meanings += [m for _, m in _variance_mistakes(scheme, n_in, n_out)]
    for meaning in meanings:
        assert meaning in feedback, meaning


def test_the_variance_hint_names_the_scheme_whose_draw_is_wrong():
    results = grade(WRONG["he with n_out"][0])
    text = message(results, VAR_H)
    assert "init_weights(300, 400, 'he'" in text and "ratio 0.75" in text


def test_a_transposed_array_costs_only_the_shape_criterion_and_is_still_graded_statistically():
    results = grade(WRONG["shape (n_out, n_in)"][0])
    assert failed(results) == {SHAPE}
    assert "returned shape (5, 3), expected (3, 5)" in message(results, SHAPE)


def test_a_missing_function_costs_only_its_own_criteria():
    without_init = NORMAL_SCALE.split("def init_weights")[0]
    results = grade(without_init)
    assert failed(results) == INIT
    assert points(results) == 2
    assert "init_weights is not defined" in message(results, VALUE_ERROR)
    without_he = STANDARD_TIMES_STD.replace("def he_variance(n_in):\n    return VARIANCES[\"he\"](n_in, None)\n", "")
    assert failed(grade(without_he)) == {HE}
    without_xavier = STANDARD_TIMES_STD.replace(
        "def xavier_variance(n_in, n_out):\n    return VARIANCES[\"xavier\"](n_in, n_out)\n", "")
    assert failed(grade(without_xavier)) == {XAVIER}


def test_a_function_that_raises_costs_only_its_criteria():
    source = NORMAL_SCALE + "\ndef he_variance(n_in):\n    raise NotImplementedError\n"
    source = source.replace("var = he_variance(n_in)", "var = 2 / n_in")
    results = grade(source)
    assert failed(results) == {HE}
    assert "raised NotImplementedError" in message(results, HE)


def test_the_plan_sends_generators_as_seeds_and_grades_every_bad_scheme():
    plan = EXERCISE.plan(0)
    init_calls = [c for c in plan.calls if c.func == "init_weights"]
    assert all(isinstance(c.args[3], Rng) for c in init_calls)
    assert [c.args[2] for c in init_calls if c.id.startswith("init_weights/bad/")] == list(BAD_SCHEMES)
    draws = [c for c in init_calls if c.id.startswith("init_weights/draw/")]
    assert [(c.args[2], c.args[0], c.args[1]) for c in draws] == list(DRAWS)
    assert all(isinstance(plan.expected[c.id], StandardBounds) for c in draws)
    seeds = [c.args[3].seed for c in init_calls]
    repro = [c for c in init_calls if "/repro/" in c.id]
    assert len(set(seeds)) == len(seeds) - 2  # only the two "same seed" pairs repeat
    assert {c.args[3].seed for c in repro if c.id.endswith("/a")} == \
        {c.args[3].seed for c in repro if c.id.endswith("/a_again")}


def _same(a, b) -> bool:
    return a == b if isinstance(a, StandardBounds) else np.array_equal(a, b)


def test_the_plan_is_reproducible_for_a_seed_and_differs_between_seeds():
    p1, p2, p3 = EXERCISE.plan(7), EXERCISE.plan(7), EXERCISE.plan(8)
    assert [wire_call(c) for c in p1.calls] == [wire_call(c) for c in p2.calls]
    assert p1.expected.keys() == p2.expected.keys()
    assert all(_same(p1.expected[k], p2.expected[k]) for k in p1.expected)
    assert [wire_call(c) for c in p1.calls] != [wire_call(c) for c in p3.calls]


def test_the_rubric_matches_the_contract():
    assert EXERCISE.id == "q7" and EXERCISE.points == 8
    assert EXERCISE.names == ("xavier_variance", "he_variance", "init_weights")
    assert sum(c.points for c in EXERCISE.criteria) == 8
    assert len({c.name for c in EXERCISE.criteria}) == len(EXERCISE.criteria)


@pytest.mark.parametrize("body", ["np.zeros((n_in, n_out))", "np.full((n_in, n_out), 0.05)",
                                  "rng.standard_normal((n_in, n_out)) * 0.1"])
def test_weights_without_the_right_variance_cost_init_weights_only_and_crash_nothing(body):
    # a constant array has sample standard deviation 0: the mean test once divided by it and the whole
    # submission ended with status error; now the variance fails, and mean, normality, shape,
    # reproducibility and ValueError, which reward a working draw, are not earned
    source = _replace(DRAW, f"return {body}")
    results = grade(source)
    assert failed(results) == INIT
    assert points(results) == 2
    assert not any(type(r.failure).__name__ == "CheckError" for r in results)
    assert all("not awarded yet" in message(results, name) for name in INIT - VARIANCE)


def test_a_constant_draw_is_reported_as_such_by_the_mean_check():
    from grader.rubric.criteria import calls, each_call
    from grader.rubric.exercises.q07_initialisation import DRAWN, FUNC, mean_of_draw
    from grader.rubric.runner import run_criteria
    from helpers import namespace_of, run_plan

    plan = EXERCISE.plan(0)
    ns = namespace_of(_replace(DRAW, "return np.full((n_in, n_out), 0.05)"))
    (result,) = run_criteria([each_call("mean", 1, calls(FUNC, DRAWN), mean_of_draw)], plan, run_plan(plan, ns))
    assert "all 120000 weights are equal" in result.message
