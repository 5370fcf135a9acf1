"""q3: collapse two affine layers into one."""
from __future__ import annotations

import numpy as np

from grader.rubric.checks import ATOL, RTOL, CallFailed, CheckFailure, Results, WrongShape, assert_close, result, tuple_result
from grader.rubric.criteria import calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.probes import Call, Plan, exercise_rng
from grader.rubric.record import CallStatus
from reference import forward as F
from reference import keys

FUNC = "collapse_affine"
N_X = 3  # random x per shape for the behavioural check

PRODUCT_HINT = ("a matrix product has mismatched sizes. Layers act on column vectors, W1 has shape (h, d) and "
                "W2 (o, h): the layer applied first stands on the right of a product, and A must have shape (o, d).")
BIAS_HINT = ("b1 has h entries and b2 has o: they cannot be added directly, b1 goes through the second layer "
             "before it meets b2.")


def _sizes(rng: np.random.Generator) -> list[tuple[str, int, int, int]]:
    """(tag, d, h, o): all different, d = 1, o = 1, and a larger all-different case.

    Every other size is at least 3, so that every A, and every c but the one of o = 1, has at least 3
    elements: a near miss (float32 arithmetic) is exposed on one of them whatever the draw, also in the gate."""
    small, large = np.arange(3, 9), np.arange(9, 21)
    d, h, o = (int(n) for n in rng.choice(small, 3, replace=False))
    out = [("distinct", d, h, o)]
    h, o = (int(n) for n in rng.choice(small, 2, replace=False))
    out.append(("d=1", 1, h, o))
    d, h = (int(n) for n in rng.choice(small, 2, replace=False))
    out.append(("o=1", d, h, 1))
    d, h, o = (int(n) for n in rng.choice(large, 3, replace=False))
    out.append(("larger", d, h, o))
    return out


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q3")
    p = Plan("q3", seed, [])
    for tag, d, h, o in _sizes(rng):
        W1, b1 = rng.normal(size=(h, d)), rng.normal(size=h)
        W2, b2 = rng.normal(size=(o, h)), rng.normal(size=o)
        call = Call(f"{FUNC}/{tag}", FUNC, (W1, b1, W2, b2), {},
                    f"d={d} inputs, h={h} hidden units, o={o} outputs (W1 {h}x{d}, W2 {o}x{h})", tag=tag)
        A, c = keys.collapse_affine(W1, b1, W2, b2)
        X = rng.normal(size=(d, N_X))
        Y = np.stack([np.asarray(F.two_affine_layers(x, W1, b1, W2, b2)) for x in X.T], axis=1)
        p.calls.append(call)
        p.expected[call.id] = {"A": A, "c": c, "X": X, "Y": Y}
    return p


def collapsed(results: Results, call: Call, check: str = "Ac") -> tuple[np.ndarray, np.ndarray]:
    """(A, c) as returned, with the shapes of the parts named in ``check`` verified.

    A product or a sum that did not fit (numpy raised) and a part of a recognisable wrong shape get a hint.
    """
    try:
        result(results, call)
    except CallFailed as failure:
        message = failure.message if failure.fields.get("status") == CallStatus.RAISED else ""
        hint = (PRODUCT_HINT if "matmul" in message or "not aligned" in message
                else BIAS_HINT if "broadcast" in message else "")
        if hint:
            raise CallFailed(failure.message, hint=hint, **failure.fields) from None
        raise
    W1, b1, W2, b2 = call.args
    (h, d), o = W1.shape, W2.shape[0]
    out = tuple_result(results, call, (None, None))
    for name, got, want in zip("Ac", out, ((o, d), (o,))):
        if name not in check or got.shape == want:
            continue
        if sorted(got.shape) == sorted(want):
            hint = "the axes are swapped: the layer applied first stands on the right of the product."
        elif name == "c" and got.shape == (h,):
            hint = f"c has one entry per hidden unit, like b1; it needs one per output. {BIAS_HINT}"
        elif name == "c" and got.size == o:
            hint = "return c as a 1-d vector of shape (o,), not as a column or a row."
        else:
            hint = f"with W1 {h}x{d} and W2 {o}x{h}, A has shape (o, d) = {(o, d)} and c shape (o,) = {(o,)}."
        raise WrongShape(f"{call.signature()} returned {name} of shape {got.shape}, expected {want}.", hint=hint,
                         expected_shape=want, got_shape=got.shape)
    return out


C_MISTAKES = mistakes(
    (lambda W1, b1, W2, b2: W2 @ b1, "b2 is missing from c."),
    (lambda W1, b1, W2, b2: b2, "c = b2 leaves out the first bias: b1 passes through the second layer too."),
)


GENERAL = ("distinct", "larger")
THIN = ("d=1", "o=1")


def _shapes_one(plan: Plan, results: Results, call: Call) -> None:
    collapsed(results, call)


def _one_matrix(plan: Plan, results: Results, call: Call) -> None:
    A, _ = collapsed(results, call, "A")
    assert_close(A, plan.expected[call.id]["A"], call, what=" -> A")


def _one_offset(plan: Plan, results: Results, call: Call) -> None:
    _, c = collapsed(results, call, "c")
    assert_close(c, plan.expected[call.id]["c"], call, what=" -> c", mistakes=known(C_MISTAKES, *call.args))


def _a_or_c(plan: Plan, results: Results, call: Call) -> None:
    """A right, or c right where it has more than one element (one number is right by chance too often:
    a float32 c of one element falls within the tolerance on about one draw in 300)."""
    try:
        _one_matrix(plan, results, call)
    except CheckFailure:
        if call.args[2].shape[0] < 2:
            raise
        _one_offset(plan, results, call)


#: Shape and "not modified" reward a collapse that works: A or c right for some layers.
WORKS = works("A or c is right for at least one pair of layers", calls(FUNC), _a_or_c, key=lambda k: k["A"])


def _behaviour_one(plan: Plan, results: Results, call: Call) -> None:
    A, c = collapsed(results, call)
    key = plan.expected[call.id]
    X, Y = key["X"], key["Y"]
    # A and c are graded at the contract's tolerance; A @ x + c sums d + 1 such terms, so its error may
    # reach RTOL * (|A| @ |x| + |c|) without either being wrong. That bound, scalar, is the atol here.
    atol = ATOL + RTOL * float(np.max(np.abs(key["A"]) @ np.abs(X) + np.abs(key["c"])[:, None]))
    wrong = ((key["A"] @ X + value[:, None], meaning) for value, meaning in known(C_MISTAKES, *call.args))
    assert_close(A @ X + c[:, None], Y, call, atol=atol, mistakes=wrong,
                 what=f" -> A @ x + c for {N_X} random x (one column each), against W2 @ (W1 @ x + b1) + b2")


EXERCISE = Exercise(
    id="q3",
    title="Affine collapse",
    points=8,
    names=(FUNC,),
    plan=plan,
    criteria=(
        each_call("returns a tuple (A, c) with A of shape (o, d) and c of shape (o,), for non-square layers",
                  1.0, calls(FUNC), _shapes_one, WORKS),
        each_call("A matches the collapsed weight matrix for layers of different sizes", 1.5, calls(FUNC, GENERAL),
                  _one_matrix),
        each_call("A matches the collapsed weight matrix with one input (d = 1) or one output (o = 1)", 1.0,
                  calls(FUNC, THIN), _one_matrix),
        each_call("c matches the collapsed bias for layers of different sizes", 1.5, calls(FUNC, GENERAL),
                  _one_offset),
        each_call("c matches the collapsed bias with one input (d = 1) or one output (o = 1)", 1.0,
                  calls(FUNC, THIN), _one_offset),
        each_call("A @ x + c equals W2 @ (W1 @ x + b1) + b2 for random x", 1.0, calls(FUNC), _behaviour_one),
        unmutated("inputs are not modified", 1.0, calls(FUNC), WORKS),
    ),
)
