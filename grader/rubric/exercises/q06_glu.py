"""q6: the gated linear unit glu(a, b) = a * sigmoid(b), forward and backward.

``glu_backward(a, b, grad_out)`` returns the two vector-Jacobian products
``(grad_a, grad_b)``; the answer key is autograd's ``make_vjp`` of the reference
forward (``keys.glu_backward``). Random inputs of every rank are graded apart
from the edge cases, where b reaches +-50, +-700 and +-1000 and everything must
stay finite.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from grader.rubric.checks import CheckFailure, Results, array_result, assert_close, assert_finite, matches_mistake, tuple_result
from grader.rubric.criteria import One, calls, each_call, known, mistakes, unmutated, works
from grader.rubric.exercise import Exercise
from grader.rubric.exercises.elementwise import both_signs, edge_vector
from grader.rubric.probes import EDGE_VALUES, Call, Plan, exercise_rng, shapes_of_every_rank
from reference import forward as F
from reference import keys

#: Tags of the calls: three 0-d inputs, random arrays of rank 1 to 3 and a batch, the two edge-value vectors.
ZERO_D, ARRAYS, EDGES = ("0d",), ("array",), ("edges",)
RANDOM = ZERO_D + ARRAYS
N_0D = 3


def _inputs(rng: np.random.Generator) -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, str]]:
    """(name, tag, a, b, grad_out, label): random arrays of every rank, a batch and the edge cases."""
    out = []
    for i in range(N_0D):
        a, b, g = (np.array(rng.normal(0.0, 3.0)) for _ in range(3))
        out.append((f"0d-{i + 1}", "0d", a, b, g,
                    f"0-d arrays a = {float(a):.6g}, b = {float(b):.6g}, grad_out = {float(g):.6g}"))
    for shape in shapes_of_every_rank(rng)[1:]:
        a, b, g = (both_signs(rng, rng.normal(0.0, 3.0, size=shape)) for _ in range(3))
        out.append((f"rank{len(shape)}", "array", a, b, g, f"a, b and grad_out of shape {shape}, normal with std 3"))
    a, b, g = (rng.normal(0.0, 3.0, size=(64, 16)) for _ in range(3))
    out.append(("batch", "array", a, b, g, "a batch: a, b and grad_out of shape (64, 16)"))
    edges = edge_vector(rng, EDGE_VALUES)
    n = edges.size
    out.append(("edges_b", "edges", rng.normal(0.0, 3.0, size=n), edges, rng.normal(0.0, 1.0, size=n),
                "b = the edge values 0, +-1e-12, +-1, +-3, +-50, +-700, +-1000 and values near them, a normal"))
    out.append(("edges_ab", "edges", edges.copy(), edges[::-1].copy(), rng.normal(0.0, 1.0, size=n),
                "a = the same edge values and b = them in reverse order"))
    return out


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q6")
    p = Plan("q6", seed, [])
    for name, tag, a, b, g, label in _inputs(rng):
        forward = Call(f"glu/{name}", "glu", (a, b), {}, label, tag=tag)
        backward = Call(f"glu_backward/{name}", "glu_backward", (a, b, g), {}, label, tag=tag)
        p.calls += [forward, backward]
        p.expected[forward.id] = np.asarray(F.glu(a, b), dtype=np.float64)
        p.expected[backward.id] = keys.glu_backward(a, b, g)
    return p


def _sig(b):
    return F.sigmoid(np.asarray(b, dtype=np.float64))


GLU_MISTAKES = mistakes(
    (lambda a, b: b * _sig(a), "this is b * sigmoid(a): the gate is sigmoid(b), and a is the value it scales."),
    (lambda a, b: a * b, "this is a * b: pass the gate through the sigmoid, a * sigmoid(b)."),
    (lambda a, b: a * np.tanh(b), "this is a * tanh(b): the gate of a GLU is the logistic sigmoid."),
    (lambda a, b: _sig(a * b), "this is sigmoid(a * b): only b goes through the sigmoid, then multiply by a."),
)

SWAPPED = "the outputs are swapped: return (grad_a, grad_b), in this order."

# Arguments: a, b, grad_out, the correct grad_a, the correct grad_b. (A swap of the
# two outputs is recognised on the pair, see ``_swapped``: an item alone cannot tell
# a swap from grad_b = grad_out * sigmoid(b).)
GRAD_A_MISTAKES = mistakes(
    (lambda a, b, g, ga, gb: g, "grad_a equals grad_out: you forgot the gate, grad_a = grad_out * sigmoid(b)."),
    (lambda a, b, g, ga, gb: _sig(b), "this is sigmoid(b) alone: multiply by grad_out (the chain rule)."),
)
GRAD_B_MISTAKES = mistakes(
    (lambda a, b, g, ga, gb: g * _sig(b),
     "this is grad_out * sigmoid(b): you forgot the derivative of the sigmoid and the factor a; "
     "grad_b = grad_out * a * sigmoid(b) * (1 - sigmoid(b))."),
    (lambda a, b, g, ga, gb: g * _sig(b) * (1.0 - _sig(b)),
     "the factor a is missing: grad_b = grad_out * a * sigmoid(b) * (1 - sigmoid(b))."),
    (lambda a, b, g, ga, gb: g * a * _sig(b),
     "this is grad_out * a * sigmoid(b): the derivative of sigmoid(b) is sigmoid(b) * (1 - sigmoid(b))."),
    (lambda a, b, g, ga, gb: a * _sig(b) * (1.0 - _sig(b)),
     "grad_out is missing: multiply the local derivative by grad_out (the chain rule)."),
    (lambda a, b, g, ga, gb: g * a * b * (1.0 - b),
     "sigmoid'(b) is written as b * (1 - b): that formula takes the output s = sigmoid(b), but the argument is b; "
     "compute s = sigmoid(b) first, then grad_out * a * s * (1 - s)."),
    (lambda a, b, g, ga, gb: g * a * _sig(b) * (1.0 - b),
     "sigmoid'(b) = s * (1 - s) with s = sigmoid(b) in both factors, not sigmoid(b) * (1 - b)."),
)


def _swapped(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> bool:
    """The student returned (grad_b, grad_a)."""
    return (not matches_mistake(expected[0], expected[1]) and matches_mistake(got[0], expected[1])
            and matches_mistake(got[1], expected[0]))


def _glu_value(finite: bool = False) -> One:
    def one(plan: Plan, results: Results, call: Call) -> None:
        a, b = call.args
        got = array_result(results, call, np.shape(a))
        if finite:
            assert_finite(got, call, inputs=b, input_name="b", hint="compute the sigmoid so that exp() "
                          "never gets a large positive argument (or let it overflow to inf in 1 / (1 + inf)).")
        assert_close(got, plan.expected[call.id], call, inputs=b, input_name="b", mistakes=known(GLU_MISTAKES, a, b))

    return one


def _backward_shape(plan: Plan, results: Results, call: Call) -> None:
    tuple_result(results, call, (np.shape(call.args[0]),) * 2)


def _item_mistakes(got: tuple, expected: tuple, i: int, *args) -> Iterator[tuple[np.ndarray, str]]:
    """The swap of the two outputs, recognised on the pair, else the known mistakes of item ``i``."""
    if _swapped(got, expected):
        yield got[i], SWAPPED
        return
    yield from known((GRAD_A_MISTAKES, GRAD_B_MISTAKES)[i], *args, *expected)


def backward_item(plan: Plan, results: Results, call: Call, i: int, finite: bool = False) -> None:
    """Item ``i`` (0: grad_a, 1: grad_b) of glu_backward matches the autograd VJP, with a hint if it can."""
    a, b, g = call.args
    got = tuple_result(results, call, (np.shape(a),) * 2)
    expected = plan.expected[call.id]
    what = f", item {i} ({('grad_a', 'grad_b')[i]})"
    if finite:
        assert_finite(got[i], call, inputs=b, input_name="b", what=what)
    assert_close(got[i], expected[i], call, inputs=b, input_name="b", what=what,
                 mistakes=_item_mistakes(got, expected, i, a, b, g))


def _backward_items(items: Sequence[int], finite: bool = False) -> One:
    """Item(s) ``items`` (0: grad_a, 1: grad_b) of glu_backward match the autograd VJP."""
    def one(plan: Plan, results: Results, call: Call) -> None:
        for i in items:
            backward_item(plan, results, call, i, finite)

    return one


def _backward_one(plan: Plan, results: Results, call: Call) -> None:
    """grad_a or grad_b right for this call."""
    try:
        backward_item(plan, results, call, 0)
    except CheckFailure:
        backward_item(plan, results, call, 1)


GLU_WORKS = works("glu is right on at least one random input", calls("glu", RANDOM), _glu_value())
BACKWARD_WORKS = works("grad_a or grad_b is right on at least one random input", calls("glu_backward", RANDOM),
                       _backward_one, key=lambda k: k[0])

EXERCISE = Exercise(
    id="q6",
    title="Gated linear unit, forward and backward",
    points=10,
    names=("glu", "glu_backward"),
    plan=plan,
    criteria=(
        each_call("glu matches a * sigmoid(b) on 0-d inputs", 0.5, calls("glu", ZERO_D), _glu_value()),
        each_call("glu matches a * sigmoid(b) on random arrays of rank 1 to 3 and a batch", 1.5, calls("glu", ARRAYS),
                  _glu_value()),
        each_call("glu is finite and accurate for b at 0, +-50, +-700, +-1000 and values near them", 1,
                  calls("glu", EDGES), _glu_value(finite=True), GLU_WORKS),
        each_call("glu_backward returns a tuple (grad_a, grad_b), each of the shape of a", 1, calls("glu_backward"),
                  _backward_shape, BACKWARD_WORKS),
        each_call("grad_a matches the vector-Jacobian product grad_out * sigmoid(b) on 0-d inputs", 0.5,
                  calls("glu_backward", ZERO_D), _backward_items((0,))),
        each_call("grad_a matches the vector-Jacobian product grad_out * sigmoid(b) on random arrays", 1.5,
                  calls("glu_backward", ARRAYS), _backward_items((0,))),
        each_call("grad_b matches the vector-Jacobian product grad_out * a * sigmoid'(b) on 0-d inputs", 0.5,
                  calls("glu_backward", ZERO_D), _backward_items((1,))),
        each_call("grad_b matches the vector-Jacobian product grad_out * a * sigmoid'(b) on random arrays", 1.5,
                  calls("glu_backward", ARRAYS), _backward_items((1,))),
        each_call("glu_backward is finite and accurate for b at 0, +-50, +-700, +-1000 and values near them", 1,
                  calls("glu_backward", EDGES), _backward_items((0, 1), finite=True), BACKWARD_WORKS),
        unmutated("glu does not modify its inputs", 0.5, calls("glu"), GLU_WORKS),
        unmutated("glu_backward does not modify its inputs", 0.5, calls("glu_backward"), BACKWARD_WORKS),
    ),
)
