"""Shared plan and rubric pieces for elementwise functions (q1, q2, q6, q9).

An elementwise probe group calls one function on inputs of five classes, each
graded by its own criterion so that code that fails one class (scalar-only code
on arrays, a loop that only handles 1-d input, an overflow at +-1000) keeps the
points of the others:

- ``0d``: four 0-d arrays, two positive and two negative;
- ``1d``: a random 1-d array;
- ``nd``: random arrays of rank 2 and 3 and a (64, 16) batch;
- ``small``: the contract's 0, +-1e-12, +-1, +-3 and random values near them;
- ``large``: the contract's +-50, +-700, +-1000 and random values near them.

Every random array holds both signs, and the edge vectors mix the contract's
exact values with values drawn per submission, in a random order: no constant
and no table of the fixed edge cases matches any class. The edge classes are
secondary: they count once the function is right on some random input (see
:class:`grader.runner.Gate`). Answer keys come from a reference function (an
autograd derivative, usually) on the same input.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from grader.checks import (NOT_RUN, Results, array_result, assert_close, assert_finite, assert_none_mutated, each)
from grader.runner import Criterion
from grader.gates import Gate, informative, right_somewhere
from grader.probes import EDGE_VALUES, Call, Plan, shapes_of_every_rank

#: A known wrong formula: f(*args, **kwargs) -> values, and what it means.
Mistake = tuple[Callable[..., np.ndarray], str]

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


def both_signs(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """``x`` with at least one positive and one negative element (when it has two)."""
    if x.size < 2:
        return x
    flat = x.ravel().copy()
    i, j = rng.choice(flat.size, 2, replace=False)
    flat[i], flat[j] = abs(flat[i]) + 1e-3, -abs(flat[j]) - 1e-3
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


def class_of(call: Call) -> str:
    """The input class of an elementwise call, from its tag ("0d-2" -> "0d")."""
    tag = call.id.split("/")[-1].split("-")[0]
    return {"rank2": "nd", "rank3": "nd", "batch": "nd", "rank1": "1d"}.get(tag, tag)


def elementwise_inputs(rng: np.random.Generator, scale: float = 4.0) -> list[tuple[str, np.ndarray, str]]:
    """(tag, x, label) of every class (see the module docstring)."""
    out = []
    signs = rng.permutation([1.0, 1.0, -1.0, -1.0])
    for i, sign in enumerate(signs[:N_0D]):
        x = np.array(sign * (abs(rng.normal(0.0, scale)) + 0.05))
        out.append((f"0d-{i + 1}", x, f"x a 0-d array ({float(x):.6g})"))
    for shape in shapes_of_every_rank(rng)[1:]:
        x = both_signs(rng, rng.normal(0.0, scale, size=shape))
        out.append((f"rank{len(shape)}", x, f"x of shape {shape}, normal with std {scale:g}"))
    out.append(("batch", both_signs(rng, rng.normal(0.0, scale, size=(64, 16))), "a batch x of shape (64, 16)"))
    out.append(("small", edge_vector(rng, SMALL_EDGES), "x = 0, +-1e-12, +-1, +-3 and values near them"))
    out.append(("large", edge_vector(rng, LARGE_EDGES), "x = +-50, +-700, +-1000 and values near them"))
    return out


def add_elementwise_calls(plan: Plan, func: str, key: Callable[..., np.ndarray],
                          inputs: Sequence[tuple[str, np.ndarray, str]], suffix_tag: str = "", **kwargs) -> None:
    """Append ``func(x, **kwargs)`` for every input, with ``key(x, **kwargs)`` as its answer.

    ``key`` is elementwise, so it is evaluated once on all inputs laid end to
    end (one autograd trace instead of one per input) and split again.
    """
    suffix = "".join(f",{k}={v}" for k, v in kwargs.items())
    flat = np.concatenate([np.ravel(x) for _, x, _ in inputs])
    values = np.asarray(key(flat, **kwargs), dtype=np.float64)
    offset = 0
    for tag, x, label in inputs:
        call = Call(f"{func}{suffix}/{tag}{suffix_tag}", func, (x,), dict(kwargs), label)
        plan.calls.append(call)
        plan.expected[call.id] = values[offset:offset + np.size(x)].reshape(np.shape(x))
        offset += np.size(x)


def calls_of(plan: Plan, func: str) -> list[Call]:
    return [c for c in plan.calls if c.func == func]


def _select(plan: Plan, func: str, classes: Sequence[str], with_kwargs: bool | None) -> list[Call]:
    return [c for c in calls_of(plan, func) if class_of(c) in classes
            and (with_kwargs is None or bool(c.kwargs) == with_kwargs)]


def one_value(mistakes: Sequence[Mistake] = (), finite: bool = False, **tol) -> Callable[[Plan, Results, Call], None]:
    """Check one elementwise call against its key (quoting x, naming a recognised mistake)."""

    def one(plan: Plan, results: Results, call: Call) -> None:
        x = call.args[0]
        expected = plan.expected[call.id]
        got = array_result(results, call, np.shape(expected))
        if finite:
            assert_finite(got, call, inputs=x)
        with np.errstate(all="ignore"):
            known = [(wrong(*call.args, **call.kwargs), meaning) for wrong, meaning in mistakes]
        assert_close(got, expected, call, inputs=x, mistakes=known, **tol)

    return one


def random_groups(plan: Plan, func: str, with_kwargs: bool | None = None) -> list[list[Call]]:
    """The random inputs of ``func`` as gate groups: the 0-d ones together, every array alone."""
    calls = _select(plan, func, RANDOM_CLASSES, with_kwargs)
    zero_d = [c for c in calls if class_of(c) == "0d"]
    groups = [zero_d] + [[c] for c in calls if class_of(c) != "0d"]
    return [g for g in groups if g and informative(*(plan.expected[c.id] for c in g))]


def works_gate(func: str, mistakes: Sequence[Mistake] = ()) -> Gate:
    """``func`` is right on at least one random input (all 0-d ones together count as one)."""
    return right_somewhere(f"{func} is right on at least one of its random inputs",
                           lambda plan: random_groups(plan, func), one_value(mistakes))


def any_works_gate(funcs: Sequence[str]) -> Gate:
    """At least one of ``funcs`` is right on at least one random input."""
    one = one_value()
    return right_somewhere(f"{' or '.join(funcs)} is right on at least one random input",
                           lambda plan: [g for f in funcs for g in random_groups(plan, f)], one)


def values_criterion(name: str, points: float, func: str, mistakes: Sequence[Mistake] = (),
                     classes: Sequence[str] = RANDOM_CLASSES, finite: bool = False, with_kwargs: bool | None = None,
                     gate: Gate | None = None, **tol) -> Criterion:
    """All calls of ``func`` in ``classes`` (optionally only those with or without kwargs) match the key."""
    one = one_value(mistakes, finite, **tol)

    def check(plan: Plan, results: Results) -> None:
        each(_select(plan, func, classes, with_kwargs), lambda call: one(plan, results, call))

    return Criterion(name, points, check, gate)


def class_criteria(func: str, what: str, points: Sequence[float], mistakes: Sequence[Mistake] = (),
                   finite_edges: bool = True, with_kwargs: bool | None = None, classes=CLASSES,
                   gate: Gate | None = None) -> tuple[Criterion, ...]:
    """One criterion per input class, ``points[i]`` for ``classes[i]``; the edge classes are gated on
    ``func`` being right on some random input (or ``gate``). A zero in ``points`` skips the class."""
    gate = gate or works_gate(func, mistakes)
    out = []
    for (cls, where), p in zip(classes, points):
        if not p:
            continue
        edge = cls in EDGE_CLASSES
        label = f"{func} is finite and right {where}" if edge and finite_edges else f"{func} {what} {where}"
        out.append(values_criterion(label, p, func, mistakes, classes=(cls,),
                                    finite=edge and finite_edges, with_kwargs=with_kwargs,
                                    gate=gate if edge else None))
    return tuple(out)


def unmutated_criterion(points: float, funcs: Sequence[str], name: str = "inputs are not modified",
                        gate: Gate | None = None) -> Criterion:
    """No call of ``funcs`` that returned modifies its inputs; counts once one of them works.

    A function the student did not write modified nothing, so its calls are
    left to its own criteria (one missing name must not cost the others'
    points); at least one of ``funcs`` must be defined to earn this one.
    """

    def check(plan: Plan, results: Results) -> None:
        calls = [c for c in plan.calls if c.func in funcs]
        defined = [c for c in calls if results.get(c.id, NOT_RUN).status != "undefined"]
        assert_none_mutated(results, defined or calls)

    return Criterion(name, points, check, gate or any_works_gate(funcs))
