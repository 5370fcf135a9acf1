"""q8: the dead-ReLU diagnostic ``dead_relu_units(preacts, threshold=0.01)``.

A unit (a column of ``preacts``) is dead when the fraction of samples with
preact > 0 is strictly below ``threshold``; the result is a boolean array with
one entry per unit. The answer key is the reference function itself (there is
nothing to differentiate).

Besides random pre-activations (among them, always, a unit active on exactly one
sample) the plan builds units on purpose: units with no positive sample (all
negative, all exactly 0, negative with exact zeros), units
exactly at the threshold (2 positive samples out of 200 with threshold 0.01:
fraction 0.01 is not strictly below 0.01, so the unit is alive) and just below
it, and the same at non-default thresholds. Every fraction used is exactly
representable as the quotient count / n_samples, so ``mean(...) < threshold`` and
``count < threshold * n_samples`` agree on every unit.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from grader.rubric.checks import Results, WrongShape, assert_close, result
from grader.rubric.criteria import calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.probes import Call, Plan, exercise_rng
from reference import forward as F

FUNC = "dead_relu_units"


def _with_positives(rng: np.random.Generator, n_samples: int, counts: Sequence[int]) -> np.ndarray:
    """Columns with exactly ``counts[j]`` positive samples; the other samples are strictly negative."""
    cols = []
    for k in counts:
        col = -rng.uniform(0.1, 3.0, size=n_samples)
        col[rng.choice(n_samples, size=k, replace=False)] = rng.uniform(0.1, 3.0, size=k)
        cols.append(col)
    return np.stack(cols, axis=1)


def _shuffled_units(rng: np.random.Generator, *blocks: np.ndarray) -> np.ndarray:
    preacts = np.concatenate(blocks, axis=1)
    return preacts[:, rng.permutation(preacts.shape[1])]


def _cases(rng: np.random.Generator) -> list[tuple[str, str, np.ndarray, dict, str]]:
    """(name, tag, preacts, kwargs, label) for every probe."""
    out = []
    # Random pre-activations, a shift per unit: from always active to (almost surely) never. The fixed part:
    # one unit, at a random place, with exactly one positive sample (1 / n_samples < 0.01: dead, though active
    # once), so that telling "never active" for "rarely active" fails on every draw, not only when the shifts
    # happen to make such a unit.
    n_samples, n_units = int(rng.integers(150, 250)), int(rng.integers(10, 20))
    shift = rng.uniform(-4.5, 1.5, size=n_units)
    preacts = rng.normal(0.0, 1.0, size=(n_samples, n_units)) + shift
    preacts[:, int(rng.integers(n_units))] = _with_positives(rng, n_samples, [1])[:, 0]
    out.append(("random", "random", preacts, {},
                f"preacts of shape {(n_samples, n_units)}, normal with a random shift per unit"))
    out.append(("random_batch", "random", rng.normal(-1.0, 1.0, size=(64, 7)), {},
                "preacts of shape (64, 7), normal with mean -1"))
    # Units without any positive sample, next to live ones.
    n = 120
    dead = [-np.abs(rng.normal(0.0, 2.0, size=(n, 3))), np.zeros((n, 2)),
            np.minimum(rng.normal(0.0, 1.0, size=(n, 2)), 0.0)]
    live = rng.normal(0.5, 1.0, size=(n, 3))
    out.append(("no_positive", "no_positive", _shuffled_units(rng, *dead, live), {},
                f"preacts of shape ({n}, 10): 3 units all negative, 2 all exactly 0, 2 negative or exactly 0, "
                "3 live units"))
    # At the default threshold: 200 samples, 0.01 * 200 = 2 positive samples.
    n = 200
    block = _with_positives(rng, n, [0, 1, 2, 2, 3, 5])
    out.append(("at_threshold", "at_threshold", _shuffled_units(rng, block, rng.normal(size=(n, 2))), {},
                "preacts of shape (200, 8): units with exactly 0, 1, 2, 2, 3, 5 positive samples and 2 "
                "random units (threshold 0.01: 2 of 200 is not strictly below)"))
    # Non-default thresholds, with units on both sides of them (strictness is graded above).
    n = 100
    out.append(("threshold=0.25", "threshold", _shuffled_units(rng, _with_positives(rng, n, [0, 20, 24, 26, 30, 60])),
                {"threshold": 0.25},
                "preacts of shape (100, 6): units with exactly 0, 20, 24, 26, 30, 60 positive samples"))
    n = 50
    out.append(("threshold=0.1", "threshold", _shuffled_units(rng, _with_positives(rng, n, [3, 4, 6, 7, 50])),
                {"threshold": 0.1},
                "preacts of shape (50, 5): units with exactly 3, 4, 6, 7, 50 positive samples"))
    return out


NO_POSITIVE = ("no_positive",)
AT_THRESHOLD = ("at_threshold",)
RANDOM = ("random",)
OTHER_THRESHOLDS = ("threshold",)


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q8")
    p = Plan("q8", seed, [])
    for name, tag, preacts, kwargs, label in _cases(rng):
        call = Call(f"{FUNC}/{name}", FUNC, (preacts,), dict(kwargs), label, tag=tag)
        p.calls.append(call)
        p.expected[call.id] = np.asarray(F.dead_relu_units(preacts, **kwargs), dtype=np.bool_)
    return p


def _threshold(call: Call) -> float:
    return float(call.kwargs.get("threshold", 0.01))


def _active_fraction(preacts: np.ndarray) -> np.ndarray:
    return np.mean(preacts > 0, axis=0)


# Arguments: preacts, threshold.
MISTAKES = mistakes(
    (lambda p, t: np.mean(p >= 0, axis=0) < t,
     "you counted preact = 0 as active; a sample is active only where preact > 0 (strictly)."),
    (lambda p, t: _active_fraction(p) <= t,
     "dead means strictly below the threshold: use fraction < threshold, not <=."),
    (lambda p, t: _active_fraction(p) >= t,
     "these are the live units: a unit is dead where its active fraction is below threshold."),
    (lambda p, t: _active_fraction(p) > t,
     "these are the live units: a unit is dead where its active fraction is below threshold."),
    (lambda p, t: _active_fraction(p) < 0.01,
     "the threshold argument is ignored: compare with threshold, not with its default 0.01."),
    (lambda p, t: np.all(p <= 0, axis=0),
     "this marks units that are never active; the contract compares the active fraction with threshold."),
    (lambda p, t: _active_fraction(p),
     "this is the fraction of active samples; return the boolean array fraction < threshold."),
    (lambda p, t: np.mean(p <= 0, axis=0),
     "this is the fraction of inactive samples; return the boolean array (fraction of preact > 0) < threshold."),
)


def _array(results: Results, call: Call) -> np.ndarray:
    """The result as a float64 array of shape (n_units,), whatever its dtype."""
    value = result(results, call)
    n_samples, n_units = call.args[0].shape
    if isinstance(value, tuple):
        raise WrongShape(f"{call.signature()} returned a tuple of {len(value)} items, expected one boolean array "
                         f"of shape ({n_units},).", hint="return only the boolean array, one entry per unit.",
                         expected_shape=(n_units,), got_shape=None)
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (n_units,):
        if value.shape == (n_samples,):
            hint = ("that is one value per sample: the fraction is taken over the samples, axis=0, "
                    "giving one value per unit.")
        elif value.size == n_units:
            hint = "one value per unit, as a 1-d array: avoid keepdims=True or reshape to (n_units,)."
        else:
            hint = "one boolean per unit (column): reduce over the samples, axis=0."
        raise WrongShape(f"{call.signature()} returned shape {value.shape}, expected ({n_units},) for preacts of "
                         f"shape {(n_samples, n_units)}.", hint=hint, expected_shape=(n_units,),
                         got_shape=value.shape)
    return value


def _boolean_shape(plan: Plan, results: Results, call: Call) -> None:
    """A boolean array (the worker reports the dtype it returned) of shape (n_units,)."""
    value = _array(results, call)
    dtype = results[call.id].source_dtype
    if dtype != "bool":
        if np.all((value == 0) | (value == 1)):
            hint = "keep the comparison's boolean result: do not convert it with astype(int)/astype(float)."
        else:
            hint = "return the comparison fraction < threshold (a boolean array), not the fractions."
        raise WrongShape(f"{call.signature()} returned an array of dtype {dtype}, expected bool.",
                         hint=hint, expected_dtype="bool", got_dtype=dtype)


def _one_value(plan: Plan, results: Results, call: Call) -> None:
    """True and False (compared as 1 and 0) match the key on every unit."""
    got = _array(results, call)
    assert_close(got, plan.expected[call.id], call, inputs=_active_fraction(call.args[0]),
                 input_name="the fraction of samples with preact > 0", what=" (1 = dead unit)",
                 mistakes=known(MISTAKES, call.args[0], _threshold(call)))


#: The boolean shape and "not modified" are true of np.zeros(n_units, bool): they count once some dead and
#: some live units are told apart.
WORKS = works("dead_relu_units tells dead from live units in at least one input", calls(FUNC), _one_value,
              key=lambda k: k.astype(float))


EXERCISE = Exercise(
    id="q8",
    title="Dead-ReLU diagnostic",
    points=8,
    names=("dead_relu_units",),
    plan=plan,
    criteria=(
        each_call("returns a boolean array of shape (n_units,)", 1.5, calls(FUNC), _boolean_shape, WORKS),
        each_call("flags the dead units of random pre-activations", 1.5, calls(FUNC, RANDOM), _one_value),
        each_call("units with no sample > 0 (negative or exactly 0) are dead", 1.5, calls(FUNC, NO_POSITIVE),
                  _one_value),
        each_call("a unit exactly at the threshold is not dead (strictly below)", 1.5, calls(FUNC, AT_THRESHOLD),
                  _one_value),
        each_call("the threshold argument is used (0.25 and 0.1)", 1, calls(FUNC, OTHER_THRESHOLDS), _one_value),
        unmutated("preacts is not modified", 1, calls(FUNC), WORKS),
    ),
)
