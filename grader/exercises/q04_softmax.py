"""q4: numerically stable softmax along any axis."""
from __future__ import annotations

import numpy as np

from grader.checks import (CallFailed, Results, array_result, assert_close, assert_finite,
                           assert_property, each)
from grader.runner import CheckFn, Criterion
from grader.gates import gated, informative, right_somewhere
from grader.exercise import Exercise
from grader.exercises.elementwise import unmutated_criterion
from grader.probes import Call, Plan, exercise_rng
from reference import forward as F

FUNC = "softmax"
RANDOM = ("rank1", "rank2", "rank3")
AXES = ("rank2-axis0", "rank2-axis1", "rank3-axis0", "rank3-axis1")
EDGES_UP = ("edge-1000", "edge-1000-near")
EDGES_DOWN = ("edge-minus1000", "edge-minus1000-near")
LARGE = ("large1d", "large2d")
SHIFTED = "+c"  # id suffix of the z + c call of an invariance pair

STABILITY_HINT = ("exp overflows (or underflows to 0 / 0): subtract the maximum before exponentiating, "
                  "softmax(z) = softmax(z - max(z, axis=axis, keepdims=True)).")
GLOBAL_MAX_HINT = ("the maximum of the whole array is subtracted: slices whose logits are far below it underflow "
                   "to 0 / 0. Subtract the maximum of each slice, max(z, axis=axis, keepdims=True).")
KEEPDIMS_HINT = ("max and sum drop the axis they reduce: pass keepdims=True so that the result broadcasts "
                 "against z along axis.")


# --- a generic property check ----------------------------------------------------------------
# --- plan ----------------------------------------------------------------------------------------
def add_call(plan: Plan, tag: str, z: np.ndarray, label: str, axis: int | None = None) -> Call:
    """Append ``softmax(z)`` (or ``softmax(z, axis=axis)``) with the reference as its answer."""
    kwargs = {} if axis is None else {"axis": axis}
    call = Call(f"{FUNC}/{tag}", FUNC, (z,), kwargs, label)
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
        add_call(p, f"rank{rank}-axis{axis}", normal(shape), f"z of shape {shape}, normal with std 3", axis)
    add_call(p, "edge-1000", np.array([1000.0, 999.0, 998.0]), "the logits [1000, 999, 998]")
    add_call(p, "edge-minus1000", np.array([-1000.0, -1000.0]), "the logits [-1000, -1000]")
    # The same, drawn per submission: a table of the two fixed vectors cannot pass.
    c, gaps = float(rng.uniform(900.0, 1100.0)), rng.uniform(0.5, 1.5, int(rng.integers(2, 5)))
    near = np.concatenate([[c], c - np.cumsum(gaps)])
    add_call(p, "edge-1000-near", near, f"the logits {np.array2string(near, precision=4, separator=', ')} "
                                        "(large, about 1 apart)")
    k, c = int(rng.integers(2, 5)), -float(rng.uniform(900.0, 1100.0))
    add_call(p, "edge-minus1000-near", np.full(k, c), f"{k} equal logits {c:.6g}")
    n = int(rng.integers(5, 10))
    add_call(p, "large1d", rng.uniform(-1e4, 1e4, n), f"z of shape ({n},), uniform in [-1e4, 1e4]")
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
        add_call(p, tag, z, f"z of shape {shape}, normal with std 3", axis)
        add_call(p, tag + SHIFTED, z + c, "the same z plus a constant per slice along the axis, in [-100, 100]",
                 axis)
    return p


# --- checks ----------------------------------------------------------------------------------------
def _axis(call: Call) -> int:
    return int(call.kwargs.get("axis", -1))


def output(results: Results, call: Call) -> np.ndarray:
    """The result, of z's shape; a broadcasting error gets the keepdims hint."""
    try:
        return array_result(results, call, np.shape(call.args[0]))
    except CallFailed as failure:
        if failure.fields.get("status") == "raised" and "broadcast" in failure.message:
            raise CallFailed(failure.message, hint=KEEPDIMS_HINT, **failure.fields) from None
        raise


def _normalised(e: np.ndarray, axis) -> np.ndarray:
    return e / np.sum(e, axis=axis, keepdims=True)


def known_mistakes(z: np.ndarray, axis: int) -> list[tuple[np.ndarray, str]]:
    """(what a known wrong softmax returns for z, what it means), most specific first."""
    with np.errstate(all="ignore"):
        out = [(_normalised(np.exp(z), axis), STABILITY_HINT),
               (_normalised(np.exp(z - np.max(z)), axis), GLOBAL_MAX_HINT),
               (_normalised(np.exp(z - np.max(z)), None),
                "this normalises over the whole array: divide by the sum along axis only (keepdims=True).")]
        for other in range(z.ndim):
            if other != axis % z.ndim:
                out.append((np.asarray(F.softmax(z, axis=other)),
                            f"this normalises along axis {other}, not along axis={axis}: pass axis to "
                            "max and sum (with keepdims=True)."))
    return out


def _first_match(got: np.ndarray, known) -> str:
    with np.errstate(invalid="ignore"):
        return next((meaning for value, meaning in known
                     if np.allclose(got, value, rtol=1e-6, atol=1e-9, equal_nan=True)), "")


def _values(tags: tuple[str, ...]) -> CheckFn:
    def check(plan: Plan, results: Results) -> None:
        def one(call: Call) -> None:
            z = call.args[0]
            got = output(results, call)
            known = known_mistakes(z, _axis(call))
            if not np.all(np.isfinite(got)):
                assert_finite(got, call, inputs=z, input_name="z", hint=_first_match(got, known) or STABILITY_HINT)
            assert_close(got, plan.expected[call.id], call, inputs=z, input_name="z", mistakes=known)

        each([c for c in plan.calls if c.id.split("/")[-1] in tags], one)

    return check


def _sums_to_one(plan: Plan, results: Results) -> None:
    def one(call: Call) -> None:
        got = output(results, call)
        sums = np.sum(got, axis=_axis(call))
        assert_property(sums, np.ones_like(sums), call, what=f" summed along axis {_axis(call)}",
                        hint="divide exp(z - max) by its sum along axis (np.sum(..., axis=axis, keepdims=True)).")

    each([c for c in plan.calls if c.id.split("/")[-1] in RANDOM + AXES], one)


def _shift_invariant(plan: Plan, results: Results) -> None:
    def one(shifted: Call) -> None:
        base = plan.call(shifted.id[:-len(SHIFTED)])
        got, reference = output(results, shifted), output(results, base)
        # z + c is rounded to ~1e-14 absolute for |c| <= 100: a relative change of that size in the output
        assert_property(got, reference, shifted, what=f", compared with {base.signature()} on the same z",
                        hint="adding a constant to every logit along axis must not change softmax: "
                             "exponentiate z - max and normalise along axis.")

    each([c for c in plan.calls if c.id.endswith(SHIFTED)], one)


def _one_value(plan: Plan, results: Results, call: Call) -> None:
    _values((call.id.split("/")[-1],))(plan, results)


#: Edge values, sums, shift invariance and "not modified" reward a softmax that works.
WORKS = right_somewhere("softmax is right on at least one random z",
                        lambda plan: [[c] for c in plan.calls if c.id.split("/")[-1] in RANDOM + AXES
                                      and informative(plan.expected[c.id])], _one_value)

EXERCISE = Exercise(
    id="q4",
    title="Numerically stable softmax",
    points=10,
    names=(FUNC,),
    plan=plan,
    criteria=(
        Criterion("softmax matches the reference on random 1-d logits (default axis=-1)", 1.0, _values(RANDOM[:1])),
        Criterion("softmax matches the reference on random logits of rank 2 and 3 (default axis=-1)", 1.0,
                  _values(RANDOM[1:])),
        Criterion("softmax(z, axis=0) normalises along axis 0, for rank 2 and 3", 1.0,
                  _values(tuple(a for a in AXES if a.endswith("axis0")))),
        Criterion("softmax(z, axis=1) normalises along axis 1, for rank 2 and 3", 1.0,
                  _values(tuple(a for a in AXES if a.endswith("axis1")))),
        *gated(WORKS,
               Criterion("softmax is finite and accurate for large logits about 1 apart, such as [1000, 999, 998]",
                         0.75, _values(EDGES_UP)),
               Criterion("softmax is finite and accurate for equal large negative logits, such as [-1000, -1000]",
                         0.75, _values(EDGES_DOWN)),
               Criterion("softmax is finite and accurate for a 1-d z uniform in [-1e4, 1e4]", 0.75,
                         _values(LARGE[:1])),
               Criterion("softmax is finite and accurate in every row of a batch with rows thousands apart", 0.75,
                         _values(LARGE[1:])),
               Criterion("softmax sums to 1 along the axis", 1.0, _sums_to_one),
               Criterion("softmax(z + c) equals softmax(z) for a constant c along the axis", 1.0, _shift_invariant)),
        unmutated_criterion(1.0, (FUNC,), gate=WORKS),
    ),
)
