"""Shared plan and rubric pieces for elementwise functions (q1, q2, q6, q9).

An elementwise probe group calls one function on inputs of five classes, each
graded by its own criterion so that code that fails one class (scalar-only code
on arrays, a loop that only handles 1-d input, an overflow at +-1000) keeps the
points of the others:

- ``0d``: four 0-d arrays, two positive and two negative, two of them the fixed points;
- ``1d``: a random 1-d array;
- ``nd``: random arrays of rank 2 and 3 and a (64, 16) batch;
- ``small``: the contract's 0, +-1e-12, +-1, +-3 and random values near them;
- ``large``: the contract's +-50, +-700, +-1000 and random values near them.

Every random input has a fixed part that exposes a systematic error whatever the
draw: each random array holds the values 1.5 and -1.25 (:data:`FIXED_POINTS`,
where no activation saturates, so a rounded constant or float32 arithmetic
shows) at random places, and two of the four 0-d inputs are these values; the
rest is drawn. The edge vectors mix the contract's
exact values with values drawn per submission, in a random order: no constant
and no table of the fixed edge cases matches any class. The edge classes are
secondary: they count once the function is right on some random input (see
:class:`grader.rubric.runner.Gate`). Answer keys come from a reference function (an
autograd derivative, usually) on the same input. Each call carries its class as
its tag (``Call.tag``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from grader.rubric.checks import Results, array_result, assert_close, assert_finite
from grader.rubric.criteria import Mistake, One, calls, each_call, gate_groups, known, works
from grader.rubric.gates import Gate, right_somewhere
from grader.rubric.probes import EDGE_VALUES, Call, Plan, shapes_of_every_rank
from grader.rubric.runner import Criterion

#: (class, what it is, for criterion names) in grading order.
CLASSES = (("0d", "on 0-d inputs"), ("1d", "on random 1-d arrays"),
           ("nd", "on random arrays of rank 2 and 3 and a (64, 16) batch"),
           ("small", "at 0, +-1e-12, +-1, +-3 and values near them"),
           ("large", "at +-50, +-700, +-1000 and values near them"))
RANDOM_CLASSES = ("0d", "1d", "nd")
EDGE_CLASSES = ("small", "large")
SMALL_EDGES = EDGE_VALUES[np.abs(EDGE_VALUES) < 10]
LARGE_EDGES = EDGE_VALUES[np.abs(EDGE_VALUES) >= 10]
N_0D = 4


#: The fixed part of every random input: two values where no activation of the contract saturates, chosen
#: so that a systematic error is far outside the tolerance there, whatever the draw. At x = -1.25 a float32
#: GELU constant sqrt(2/pi) errs by 99 times the tolerance, a float32 0.044715 by 72 times, one rounded to
#: six digits by 1900 times; there every answer key of q1 and q2 (default alpha) that is not a float32
#: number (0, 1) is at least 60 times the tolerance away from the nearest float32 number, so a float32
#: result fails there on every draw (``tests/rubric/test_seed_stability.py``).
FIXED_POINTS = (1.5, -1.25)


def both_signs(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """``x`` with the fixed points (a positive and a negative value), at random places (when it has two):
    the fixed part of a random input, so that it exposes a systematic error on every draw."""
    if x.size < 2:
        return x
    flat = x.ravel().copy()
    i, j = rng.choice(flat.size, 2, replace=False)
    flat[i], flat[j] = FIXED_POINTS
    return flat.reshape(x.shape)


def edge_vector(rng: np.random.Generator, exact: np.ndarray) -> np.ndarray:
    """The contract's ``exact`` edge values and, next to each non-zero one, a value 0.1 to 1 % (700) or
    1 to 50 % larger in magnitude, drawn per submission; in a random order.

    700 moves by less than 1 % so that exp(x) stays finite (it overflows above 709.78).
    """
    near = []
    for v in exact:
        if v == 0.0:
            continue
        low, high = (0.001, 0.01) if abs(v) == 700.0 else (0.01, 0.5)
        near.append(v * (1.0 + rng.uniform(low, high)))
    values = np.concatenate([exact, near])
    return values[rng.permutation(values.size)]


def elementwise_inputs(rng: np.random.Generator, scale: float = 4.0) -> list[tuple[str, str, np.ndarray, str]]:
    """(name, class, x, label) of every input (see the module docstring); the name ends the call's id."""
    out = []
    spread = np.abs(rng.normal(0.0, scale, 2)) + 0.05
    values = np.array([*FIXED_POINTS, spread[0], -spread[1]])  # the fixed part, and two drawn
    for i, v in enumerate(values[rng.permutation(N_0D)]):
        x = np.array(v)
        out.append((f"0d-{i + 1}", "0d", x, f"x a 0-d array ({float(x):.6g})"))
    for shape in shapes_of_every_rank(rng)[1:]:
        x = both_signs(rng, rng.normal(0.0, scale, size=shape))
        out.append((f"rank{len(shape)}", "1d" if len(shape) == 1 else "nd", x,
                    f"x of shape {shape}, normal with std {scale:g}"))
    out.append(("batch", "nd", both_signs(rng, rng.normal(0.0, scale, size=(64, 16))), "a batch x of shape (64, 16)"))
    out.append(("small", "small", edge_vector(rng, SMALL_EDGES), "x = 0, +-1e-12, +-1, +-3 and values near them"))
    out.append(("large", "large", edge_vector(rng, LARGE_EDGES), "x = +-50, +-700, +-1000 and values near them"))
    return out


def add_elementwise_calls(plan: Plan, func: str, key: Callable[..., np.ndarray],
                          inputs: Sequence[tuple[str, str, np.ndarray, str]], id_suffix: str = "", **kwargs) -> None:
    """Append ``func(x, **kwargs)`` for every input, with ``key(x, **kwargs)`` as its answer.

    ``key`` is elementwise, so it is evaluated once on all inputs laid end to
    end (one autograd trace instead of one per input) and split again.
    """
    suffix = "".join(f",{k}={v}" for k, v in kwargs.items())
    flat = np.concatenate([np.ravel(x) for _, _, x, _ in inputs])
    values = np.asarray(key(flat, **kwargs), dtype=np.float64)
    offset = 0
    for name, cls, x, label in inputs:
        call = Call(f"{func}{suffix}/{name}{id_suffix}", func, (x,), dict(kwargs), label, tag=cls)
        plan.calls.append(call)
        plan.expected[call.id] = values[offset:offset + np.size(x)].reshape(np.shape(x))
        offset += np.size(x)


def one_value(table: Sequence[Mistake] = (), finite: bool = False, **tol) -> One:
    """Check one elementwise call against its key (quoting x, naming a recognised mistake)."""

    def one(plan: Plan, results: Results, call: Call) -> None:
        x = call.args[0]
        expected = plan.expected[call.id]
        got = array_result(results, call, np.shape(expected))
        if finite:
            assert_finite(got, call, inputs=x)
        assert_close(got, expected, call, inputs=x, mistakes=known(table, *call.args, **call.kwargs), **tol)

    return one


def works_gate(func: str, table: Sequence[Mistake] = ()) -> Gate:
    """``func`` is right on at least one random input (all 0-d ones together count as one)."""
    return works(f"{func} is right on at least one of its random inputs", calls(func, RANDOM_CLASSES),
                 one_value(table))


def any_works_gate(funcs: Sequence[str]) -> Gate:
    """At least one of ``funcs`` is right on at least one random input (each function's 0-d inputs together)."""
    return right_somewhere(f"{' or '.join(funcs)} is right on at least one random input",
                           lambda plan: [g for f in funcs
                                         for g in gate_groups(plan, plan.select(func=f, tags=RANDOM_CLASSES))],
                           one_value())


def class_criteria(func: str, what: str, points: Sequence[float], table: Sequence[Mistake] = (),
                   finite_edges: bool = True, with_kwargs: bool | None = None, classes=CLASSES,
                   gate: Gate | None = None) -> tuple[Criterion, ...]:
    """One criterion per input class, ``points[i]`` for ``classes[i]``; the edge classes are gated on
    ``func`` being right on some random input (or ``gate``). A zero in ``points`` skips the class."""
    gate = gate or works_gate(func, table)
    out = []
    for (cls, where), p in zip(classes, points):
        if not p:
            continue
        edge = cls in EDGE_CLASSES
        label = f"{func} is finite and right {where}" if edge and finite_edges else f"{func} {what} {where}"
        out.append(each_call(label, p, calls(func, (cls,), with_kwargs=with_kwargs),
                             one_value(table, finite=edge and finite_edges), gate if edge else None))
    return tuple(out)
