"""q4: numerically stable softmax along any axis."""
from __future__ import annotations

import numpy as np

from typing import Iterator

from grader.rubric.checks import (CallFailed, Results, array_result, assert_close, assert_finite, assert_property, each,
                           matches_mistake)
from grader.rubric.criteria import Mistake, calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.gates import gated
from grader.rubric.probes import Call, Plan, exercise_rng
from grader.rubric.record import CallStatus
from grader.rubric.runner import Criterion
from reference import forward as F

FUNC = "softmax"
#: Tags of the calls: random logits of each rank (default axis), random logits with axis=0 or 1, the edge cases
#: near +1000 and -1000, large logits, and the shift-invariance pairs (z, then z + c).
RANDOM = ("rank1", "rank2", "rank3")
AXES = ("axis0", "axis1")
EDGES_UP = ("edge+1000",)
EDGES_DOWN = ("edge-1000",)
LARGE = ("large1d", "large2d")
SHIFT, SHIFT_PAIR = "shift", "shift+c"
SHIFTED = "+c"  # id suffix of the z + c call of an invariance pair

STABILITY_HINT = ("exp overflows (or underflows to 0 / 0): subtract the maximum before exponentiating, "
                  "softmax(z) = softmax(z - max(z, axis=axis, keepdims=True)).")
GLOBAL_MAX_HINT = ("the maximum of the whole array is subtracted: slices whose logits are far below it underflow "
                   "to 0 / 0. Subtract the maximum of each slice, max(z, axis=axis, keepdims=True).")
KEEPDIMS_HINT = ("max and sum drop the axis they reduce: pass keepdims=True so that the result broadcasts "
                 "against z along axis.")


# --- plan ----------------------------------------------------------------------------------------
def add_call(plan: Plan, name: str, z: np.ndarray, label: str, axis: int | None = None,
             tag: str | None = None) -> Call:
    """Append ``softmax(z)`` (or ``softmax(z, axis=axis)``) with the reference as its answer; the call's
    tag is ``tag``, or its name."""
    kwargs = {} if axis is None else {"axis": axis}
    call = Call(f"{FUNC}/{name}", FUNC, (z,), kwargs, label, tag=tag or name)
    plan.calls.append(call)
    plan.expected[call.id] = np.asarray(F.softmax(z, **kwargs), dtype=np.float64)
    return call


def _dims(rng: np.random.Generator, k: int) -> tuple[int, ...]:
    """k different sizes: no square slice lets a missing keepdims broadcast by accident."""
    return tuple(int(n) for n in rng.choice(np.arange(2, 8), k, replace=False))


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q4")
    p = Plan("q4", seed, [])
    normal = lambda shape: rng.normal(0.0, 3.0, size=shape)  # noqa: E731
    for shape in [(int(rng.integers(3, 10)),), _dims(rng, 2), _dims(rng, 3)]:
        add_call(p, f"rank{len(shape)}", normal(shape), f"z of shape {shape}, normal with std 3")
    for rank, axis in [(2, 0), (2, 1), (3, 0), (3, 1)]:
        shape = _dims(rng, rank)
        add_call(p, f"rank{rank}-axis{axis}", normal(shape), f"z of shape {shape}, normal with std 3", axis,
                 tag=f"axis{axis}")
    add_call(p, "edge-1000", np.array([1000.0, 999.0, 998.0]), "the logits [1000, 999, 998]", tag=EDGES_UP[0])
    add_call(p, "edge-minus1000", np.array([-1000.0, -1000.0]), "the logits [-1000, -1000]", tag=EDGES_DOWN[0])
    # The same, drawn per submission: a table of the two fixed vectors cannot pass.
    c, gaps = float(rng.uniform(900.0, 1100.0)), rng.uniform(0.5, 1.5, int(rng.integers(2, 5)))
    near = np.concatenate([[c], c - np.cumsum(gaps)])
    add_call(p, "edge-1000-near", near, f"the logits {np.array2string(near, precision=4, separator=', ')} "
                                        "(large, about 1 apart)", tag=EDGES_UP[0])
    k, c = int(rng.integers(2, 5)), -float(rng.uniform(900.0, 1100.0))
    add_call(p, "edge-minus1000-near", np.full(k, c), f"{k} equal logits {c:.6g}", tag=EDGES_DOWN[0])
    # The fixed part: one logit above 1000 and one below -1000, at random places, so that exp(z) overflows on
    # every draw (all n logits below 709 would let exp(z) / sum pass on some draws only).
    n = int(rng.integers(5, 10))
    z = rng.uniform(-1e4, 1e4, n)
    z[rng.choice(n, 2, replace=False)] = rng.uniform(1e3, 1e4) * np.array([1.0, -1.0])
    add_call(p, "large1d", z, f"z of shape ({n},), uniform in [-1e4, 1e4], one above 1000 and one below -1000")
    # Rows centred on offsets spread over [-9000, 9000]: row maxima thousands apart, magnitudes below 1e4.
    # The contract asks for finite results at such magnitudes for arrays of any rank; subtracting the maximum
    # of the whole array instead of each row's leaves rows at exp(-thousands) = 0, and 0 / 0 there.
    rows, cols = _dims(rng, 2)
    offsets = rng.permutation(np.linspace(-9000.0, 9000.0, rows))[:, None]
    add_call(p, "large2d", offsets + rng.uniform(-1000.0, 1000.0, (rows, cols)),
             f"a batch z of shape {(rows, cols)}, rows centred thousands apart, magnitudes up to 1e4")
    for tag, rank, axis in [("shift2d", 2, None), ("shift3d-axis1", 3, 1)]:
        shape = _dims(rng, rank)
        z = normal(shape)
        along = rank - 1 if axis is None else axis
        c = rng.uniform(-100.0, 100.0, tuple(1 if i == along else size for i, size in enumerate(shape)))
        add_call(p, tag, z, f"z of shape {shape}, normal with std 3", axis, tag=SHIFT)
        add_call(p, tag + SHIFTED, z + c, "the same z plus a constant per slice along the axis, in [-100, 100]",
                 axis, tag=SHIFT_PAIR)
    return p


# --- checks ----------------------------------------------------------------------------------------
def _axis(call: Call) -> int:
    return int(call.kwargs.get("axis", -1))


def output(results: Results, call: Call) -> np.ndarray:
    """The result, of z's shape; a broadcasting error gets the keepdims hint."""
    try:
        return array_result(results, call, np.shape(call.args[0]))
    except CallFailed as failure:
        if failure.fields.get("status") == CallStatus.RAISED and "broadcast" in failure.message:
            raise CallFailed(failure.message, hint=KEEPDIMS_HINT, **failure.fields) from None
        raise


def _normalised(e: np.ndarray, axis) -> np.ndarray:
    return e / np.sum(e, axis=axis, keepdims=True)


SOFTMAX_MISTAKES = mistakes(
    (lambda z, axis: _normalised(np.exp(z), axis), STABILITY_HINT),
    (lambda z, axis: _normalised(np.exp(z - np.max(z)), axis), GLOBAL_MAX_HINT),
    (lambda z, axis: _normalised(np.exp(z - np.max(z)), None),
     "this normalises over the whole array: divide by the sum along axis only (keepdims=True)."),
)


def _other_axes(z: np.ndarray, axis: int) -> tuple[Mistake, ...]:
    return tuple(Mistake(lambda z, axis, other=other: F.softmax(z, axis=other),
                         f"this normalises along axis {other}, not along axis={axis}: pass axis to "
                         "max and sum (with keepdims=True).")
                 for other in range(z.ndim) if other != axis % z.ndim)


def known_mistakes(z: np.ndarray, axis: int) -> Iterator[tuple[np.ndarray, str]]:
    """(what a known wrong softmax returns for z, what it means), most specific first, computed when asked."""
    return known(SOFTMAX_MISTAKES + _other_axes(z, axis), z, axis)


def _one_value(plan: Plan, results: Results, call: Call) -> None:
    z = call.args[0]
    got = output(results, call)
    if not np.all(np.isfinite(got)):
        hint = next((meaning for value, meaning in known_mistakes(z, _axis(call)) if matches_mistake(got, value)), "")
        assert_finite(got, call, inputs=z, input_name="z", hint=hint or STABILITY_HINT)
    assert_close(got, plan.expected[call.id], call, inputs=z, input_name="z", mistakes=known_mistakes(z, _axis(call)))


def _sums_to_one(plan: Plan, results: Results, call: Call) -> None:
    got = output(results, call)
    sums = np.sum(got, axis=_axis(call))
    assert_property(sums, np.ones_like(sums), call, what=f" summed along axis {_axis(call)}",
                    hint="divide exp(z - max) by its sum along axis (np.sum(..., axis=axis, keepdims=True)).")


def _shift_invariant(plan: Plan, results: Results) -> None:
    """softmax(z + c) against softmax(z): the calls tagged SHIFT_PAIR each follow their z, tagged SHIFT."""
    def one(pair: tuple[Call, Call]) -> None:
        base, shifted = pair
        got, reference = output(results, shifted), output(results, base)
        # z + c is rounded to ~1e-14 absolute for |c| <= 100: a relative change of that size in the output
        assert_property(got, reference, shifted, what=f", compared with {base.signature()} on the same z",
                        hint="adding a constant to every logit along axis must not change softmax: "
                             "exponentiate z - max and normalise along axis.")

    each(zip(plan.select(func=FUNC, tags=SHIFT), plan.select(func=FUNC, tags=SHIFT_PAIR)), one)


#: Edge values, sums, shift invariance and "not modified" reward a softmax that works.
WORKS = works("softmax is right on at least one random z", calls(FUNC, RANDOM + AXES), _one_value)

EXERCISE = Exercise(
    id="q4",
    title="Numerically stable softmax",
    points=10,
    names=(FUNC,),
    plan=plan,
    criteria=(
        each_call("softmax matches the reference on random 1-d logits (default axis=-1)", 1.0,
                  calls(FUNC, RANDOM[:1]), _one_value),
        each_call("softmax matches the reference on random logits of rank 2 and 3 (default axis=-1)", 1.0,
                  calls(FUNC, RANDOM[1:]), _one_value),
        each_call("softmax(z, axis=0) normalises along axis 0, for rank 2 and 3", 1.0, calls(FUNC, AXES[:1]),
                  _one_value),
        each_call("softmax(z, axis=1) normalises along axis 1, for rank 2 and 3", 1.0, calls(FUNC, AXES[1:]),
                  _one_value),
        *gated(WORKS,
               each_call("softmax is finite and accurate for large logits about 1 apart, such as [1000, 999, 998]",
                         0.75, calls(FUNC, EDGES_UP), _one_value),
               each_call("softmax is finite and accurate for equal large negative logits, such as [-1000, -1000]",
                         0.75, calls(FUNC, EDGES_DOWN), _one_value),
               each_call("softmax is finite and accurate for a 1-d z uniform in [-1e4, 1e4]", 0.75,
                         calls(FUNC, LARGE[:1]), _one_value),
               each_call("softmax is finite and accurate in every row of a batch with rows thousands apart", 0.75,
                         calls(FUNC, LARGE[1:]), _one_value),
               each_call("softmax sums to 1 along the axis", 1.0, calls(FUNC, RANDOM + AXES), _sums_to_one),
               Criterion("softmax(z + c) equals softmax(z) for a constant c along the axis", 1.0, _shift_invariant)),
        unmutated("inputs are not modified", 1.0, calls(FUNC), WORKS),
    ),
)
