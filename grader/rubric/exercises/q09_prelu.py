"""q9: PReLU, prelu(x, alpha) = where(x > 0, x, alpha * x), forward and backward.

``prelu_backward(x, alpha, grad_out)`` returns ``(grad_x, grad_alpha)``: the
vector-Jacobian products of prelu with respect to x (an array of x's shape) and
to alpha (one number, summed over every element). The answer key is autograd's
``make_vjp`` of the reference forward (``keys.prelu_backward``), which takes the
``alpha * x`` branch at x = 0, as the contract says (slope alpha at 0).

Random inputs (never exactly 0) are graded apart from the inputs that contain
exact zeros, so that a wrong slope at 0 costs only the criterion about 0.
Several alphas are used, 0 and a negative one included.
"""
from __future__ import annotations

import functools

import numpy as np

from grader.rubric.checks import CheckFailure, Results, WrongShape, array_result, assert_close, assert_finite, tuple_result
from grader.rubric.criteria import calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.exercises.elementwise import both_signs, edge_vector
from grader.rubric.gates import gated
from grader.rubric.probes import EDGE_VALUES, Call, Plan, exercise_rng, shapes_of_every_rank
from reference import forward as F
from reference import keys

#: The inputs by name (the end of a call's id) and by tag (what the criteria select).
ZERO_D_NAMES = ("0d-1", "0d-2", "0d-3", "0d-4")
ARRAY_NAMES = ("rank1", "rank2", "rank3", "batch")
SPECIAL_ALPHA_NAMES = ("alpha0", "alphaneg")
AT_ZERO_NAMES = ("edges", "zeros", "zero0d", "integers")
ZERO_D, ARRAYS, SPECIAL_ALPHAS, AT_ZERO = ("0d",), ("array",), ("special_alpha",), ("at_zero",)
TAGS = {**dict.fromkeys(ZERO_D_NAMES, "0d"), **dict.fromkeys(ARRAY_NAMES, "array"),
        **dict.fromkeys(SPECIAL_ALPHA_NAMES, "special_alpha"), **dict.fromkeys(AT_ZERO_NAMES, "at_zero")}
RANDOM = ZERO_D + ARRAYS + SPECIAL_ALPHAS
#: The slopes of the random arrays, in the order of ARRAY_NAMES (the last two are drawn), and of the special ones.
FIXED_ALPHAS = (0.25, 0.01, 0.0, -0.2)


def _inputs(rng: np.random.Generator) -> list[tuple[str, np.ndarray, float, np.ndarray, str]]:
    """(tag, x, alpha, grad_out, label) for every probe."""
    out = []
    for tag, sign in zip(ZERO_D_NAMES, rng.permutation([1.0, 1.0, -1.0, -1.0])):
        x, alpha = np.array(sign * (abs(rng.normal(0.0, 3.0)) + 0.05)), float(np.round(rng.uniform(0.05, 0.5), 4))
        out.append((tag, x, alpha, np.array(rng.normal()), f"x a 0-d array ({float(x):.6g}), alpha = {alpha:g}"))
    alphas = list(FIXED_ALPHAS[:2]) + [float(np.round(rng.uniform(0.05, 0.5), 4)) for _ in range(2)]
    shapes = shapes_of_every_rank(rng)[1:] + [(64, 16)]
    for tag, shape, alpha in zip(ARRAY_NAMES + SPECIAL_ALPHA_NAMES, shapes + shapes_of_every_rank(rng)[2:4],
                                 alphas + list(FIXED_ALPHAS[2:])):
        x = both_signs(rng, rng.normal(0.0, 3.0, size=shape))
        out.append((tag, x, alpha, rng.normal(0.0, 1.0, size=shape),
                    f"x of shape {shape}, normal with std 3, alpha = {alpha:g}"))
    edges = edge_vector(rng, EDGE_VALUES)
    out.append(("edges", edges, 0.25, rng.normal(0.0, 1.0, size=edges.size),
                "x = the edge values 0, +-1e-12, +-1, +-3, +-50, +-700, +-1000 and values near them, alpha = 0.25"))
    out.append(("zeros", np.zeros((3, 4)), 0.1, rng.normal(0.0, 1.0, size=(3, 4)),
                "x = zeros of shape (3, 4), alpha = 0.1"))
    out.append(("zero0d", np.array(0.0), 0.25, np.array(1.5), "x = 0 (a 0-d array), alpha = 0.25"))
    out.append(("integers", rng.integers(-2, 3, size=(6, 5)).astype(np.float64), 0.01,
                rng.normal(0.0, 1.0, size=(6, 5)), "x of shape (6, 5) with integer values in -2..2, alpha = 0.01"))
    return out


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q9")
    p = Plan("q9", seed, [])
    for name, x, alpha, g, label in _inputs(rng):
        forward = Call(f"prelu/{name}", "prelu", (x, alpha), {}, label, tag=TAGS[name])
        backward = Call(f"prelu_backward/{name}", "prelu_backward", (x, alpha, g), {}, label, tag=TAGS[name])
        p.calls += [forward, backward]
        p.expected[forward.id] = np.asarray(F.prelu(x, alpha), dtype=np.float64)
        p.expected[backward.id] = keys.prelu_backward(x, alpha, g)
    return p


PRELU_MISTAKES = mistakes(
    (lambda x, alpha: np.where(x > 0, x, 0.0), "this is ReLU: for x <= 0 return alpha * x, not 0."),
    (lambda x, alpha: np.where(x > 0, x, alpha), "for x <= 0 return alpha * x, not alpha."),
    (lambda x, alpha: np.where(x > 0, alpha * x, x), "the branches are swapped: x where x > 0, alpha * x elsewhere."),
)

# Arguments: x, alpha, grad_out.
GRAD_X_MISTAKES = mistakes(
    (lambda x, alpha, g: np.where(x >= 0, g, alpha * g),
     "at x = 0 you used slope 1 (x >= 0); the contract takes slope alpha at x = 0: use x > 0."),
    (lambda x, alpha, g: np.where(x > 0, 1.0, alpha),
     "grad_out is missing: grad_x = grad_out * where(x > 0, 1, alpha)."),
    (lambda x, alpha, g: np.where(x > 0, g, 0.0),
     "this is ReLU's backward: where x <= 0 the slope is alpha, so grad_x = alpha * grad_out there."),
    (lambda x, alpha, g: np.where(x > 0, g, alpha * x * g),
     "where x <= 0 the derivative of alpha * x with respect to x is alpha, not alpha * x."),
)
GRAD_ALPHA_MISTAKES = mistakes(
    (lambda x, alpha, g: np.sum(g * x),
     "this is sum(grad_out * x) over all elements; d prelu / d alpha is x only where x <= 0 and 0 where x > 0."),
    (lambda x, alpha, g: np.sum(np.where(x > 0, g * x, 0.0)),
     "you summed over x > 0; alpha only acts where x <= 0: sum(grad_out * where(x > 0, 0, x))."),
    (lambda x, alpha, g: np.sum(np.where(x > 0, 0.0, g)),
     "the factor x is missing: d (alpha * x) / d alpha = x, so sum(grad_out * x) over x <= 0."),
    (lambda x, alpha, g: np.sum(np.where(x > 0, 0.0, x)),
     "grad_out is missing: sum grad_out * x over the elements with x <= 0."),
    (lambda x, alpha, g: np.mean(np.where(x > 0, 0.0, g * x)),
     "this is the mean; grad_alpha is the sum over all elements."),
    (lambda x, alpha, g: np.sum(np.where(x > 0, 0.0, g * x)) / np.count_nonzero(x <= 0),  # nan if none, as np.mean
     "this is the mean over the elements with x <= 0; grad_alpha is their sum: alpha is shared, so every "
     "element's contribution adds up (np.sum, not np.mean)."),
)


def _forward_one(plan: Plan, results: Results, call: Call, finite: bool = False) -> None:
    x, alpha = call.args
    got = array_result(results, call, np.shape(x))
    if finite:
        assert_finite(got, call, inputs=x, hint="prelu needs no exp(): where(x > 0, x, alpha * x).")
    assert_close(got, plan.expected[call.id], call, inputs=x, mistakes=known(PRELU_MISTAKES, x, alpha))


def _grad_alpha(call: Call, value: np.ndarray, *, strict: bool) -> np.ndarray:
    """grad_alpha as a 0-d array; one element in another shape passes unless ``strict``."""
    x = call.args[0]
    if value.shape == () or (value.size == 1 and not strict):
        return value.reshape(())
    if value.size == 1:
        hint = "return a scalar (a float or a 0-d array), not an array with one element: use float(...)."
    elif value.shape == np.shape(x):
        hint = ("grad_alpha must be one number: alpha is shared by every element, so sum "
                "grad_out * d prelu / d alpha over all of them (np.sum).")
    else:
        hint = "grad_alpha is one number, the sum over all elements of grad_out * d prelu / d alpha."
    raise WrongShape(f"item 1 (grad_alpha) of what {call.signature()} returned has shape {value.shape}, "
                     f"expected a scalar ().", hint=hint, expected_shape=(), got_shape=value.shape)


def _backward(results: Results, call: Call, *, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    grad_x, grad_alpha = tuple_result(results, call, (np.shape(call.args[0]), None))
    return grad_x, _grad_alpha(call, grad_alpha, strict=strict)


def _backward_shape(plan: Plan, results: Results, call: Call) -> None:
    _backward(results, call, strict=True)


def _grad_x_one(plan: Plan, results: Results, call: Call) -> None:
    x, alpha, g = call.args
    grad_x, _ = tuple_result(results, call, (np.shape(x), None))
    assert_close(grad_x, plan.expected[call.id][0], call, inputs=x, what=", item 0 (grad_x)",
                 mistakes=known(GRAD_X_MISTAKES, x, alpha, g))


def _grad_alpha_one(plan: Plan, results: Results, call: Call) -> None:
    x, alpha, g = call.args
    got = tuple_result(results, call, (None, None))[1]
    got = _grad_alpha(call, got, strict=False)
    assert_close(got, plan.expected[call.id][1], call, what=", item 1 (grad_alpha)",
                 mistakes=known(GRAD_ALPHA_MISTAKES, x, alpha, g))


def backward(tags: tuple[str, ...], largest_first: bool = False):
    """The calls of prelu_backward with these tags. grad_alpha takes the largest inputs first: the first
    failure is the one reported, and on a single element several wrong sums coincide (for x > 0,
    sum(grad_out * x) over all x and over x > 0 are the same number), so its hint could name the wrong one."""
    return calls("prelu_backward", tags, order=(lambda c: -np.size(c.args[0])) if largest_first else None)


def _backward_one(plan: Plan, results: Results, call: Call) -> None:
    """grad_x right, or grad_alpha on a 0-d input (the four 0-d inputs form one group of the gate). grad_alpha of
    an array is one number, which a near miss (float32 arithmetic) matches by chance on about one draw in 600:
    alone, it would decide the gate by luck."""
    try:
        _grad_x_one(plan, results, call)
    except CheckFailure:
        if call.tag not in ZERO_D:
            raise
        _grad_alpha_one(plan, results, call)


FORWARD_WORKS = works("prelu is right on at least one random input", calls("prelu", RANDOM), _forward_one)
BACKWARD_WORKS = works("grad_x or grad_alpha is right on at least one random input", backward(RANDOM), _backward_one,
                       key=lambda k: k[0])
_forward_finite = functools.partial(_forward_one, finite=True)


EXERCISE = Exercise(
    id="q9",
    title="PReLU, forward and backward",
    points=12,
    names=("prelu", "prelu_backward"),
    plan=plan,
    criteria=(
        each_call("prelu matches where(x > 0, x, alpha * x) on 0-d inputs", 0.5, calls("prelu", ZERO_D),
                  _forward_one),
        each_call("prelu matches where(x > 0, x, alpha * x) on random arrays, alpha > 0", 1, calls("prelu", ARRAYS),
                  _forward_one),
        each_call("prelu matches where(x > 0, x, alpha * x) with alpha = 0 and alpha < 0", 0.5,
                  calls("prelu", SPECIAL_ALPHAS), _forward_one),
        each_call("prelu is finite and accurate at 0, +-50, +-700, +-1000 and on integer inputs", 1,
                  calls("prelu", AT_ZERO), _forward_finite, FORWARD_WORKS),
        *gated(BACKWARD_WORKS, each_call("prelu_backward returns (grad_x of the shape of x, grad_alpha a scalar)",
                                         1.5, calls("prelu_backward"), _backward_shape)),
        each_call("grad_x matches grad_out * where(x > 0, 1, alpha) on 0-d inputs", 0.5, backward(ZERO_D),
                  _grad_x_one),
        each_call("grad_x matches grad_out * where(x > 0, 1, alpha) on random arrays, alpha > 0", 1,
                  backward(ARRAYS), _grad_x_one),
        each_call("grad_x matches grad_out * where(x > 0, 1, alpha) with alpha = 0 and alpha < 0", 0.5,
                  backward(SPECIAL_ALPHAS), _grad_x_one),
        each_call("grad_x has slope alpha at x = 0", 1.5, backward(AT_ZERO), _grad_x_one, BACKWARD_WORKS),
        each_call("grad_alpha matches the sum of grad_out * x over the elements with x <= 0, on 0-d inputs", 0.5,
                  backward(ZERO_D, largest_first=True), _grad_alpha_one),
        each_call("grad_alpha matches the sum of grad_out * x over the elements with x <= 0, on random arrays", 1,
                  backward(ARRAYS + SPECIAL_ALPHAS, largest_first=True), _grad_alpha_one),
        each_call("grad_alpha is right at 0, +-50, +-700, +-1000 and on integer inputs", 1,
                  backward(AT_ZERO, largest_first=True), _grad_alpha_one, BACKWARD_WORKS),
        unmutated("prelu does not modify its inputs", 0.75, calls("prelu"), FORWARD_WORKS),
        unmutated("prelu_backward does not modify its inputs", 0.75, calls("prelu_backward"), BACKWARD_WORKS),
    ),
)
