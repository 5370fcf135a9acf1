"""Shared plan and rubric pieces for elementwise functions (q1, q2, q6, q9).

An elementwise probe group calls one function on random arrays of every rank
and on the contract's edge values; its answer key is computed by a reference
function (an autograd derivative, usually) on the same input.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from grader.checks import (NOT_RUN, Criterion, Results, array_result, assert_close, assert_finite,
                           assert_not_mutated, each)
from grader.probes import EDGE_VALUES, Call, Plan, shapes_of_every_rank

#: A known wrong formula: f(*args, **kwargs) -> values, and what it means.
Mistake = tuple[Callable[..., np.ndarray], str]


def elementwise_inputs(rng: np.random.Generator, scale: float = 4.0) -> list[tuple[str, np.ndarray, str]]:
    """(tag, x, label): random arrays of every rank, the edge values, and a batch."""
    out = []
    for shape in shapes_of_every_rank(rng):
        x = rng.normal(0.0, scale, size=shape)
        out.append((f"rank{len(shape)}", x, f"x of shape {shape}, normal with std {scale:g}"))
    out.append(("edges", EDGE_VALUES.copy(), "x = the edge values [0, +-1e-12, +-1, +-3, +-50, +-700, +-1000]"))
    out.append(("batch", rng.normal(0.0, scale, size=(64, 16)), "a batch x of shape (64, 16)"))
    return out


def add_elementwise_calls(plan: Plan, func: str, key: Callable[..., np.ndarray],
                          inputs: Sequence[tuple[str, np.ndarray, str]], **kwargs) -> None:
    """Append ``func(x, **kwargs)`` for every input, with ``key(x, **kwargs)`` as its answer.

    ``key`` is elementwise, so it is evaluated once on all inputs laid end to
    end (one autograd trace instead of one per input) and split again.
    """
    suffix = "".join(f",{k}={v}" for k, v in kwargs.items())
    flat = np.concatenate([np.ravel(x) for _, x, _ in inputs])
    values = np.asarray(key(flat, **kwargs), dtype=np.float64)
    offset = 0
    for tag, x, label in inputs:
        call = Call(f"{func}{suffix}/{tag}", func, (x,), dict(kwargs), label)
        plan.calls.append(call)
        plan.expected[call.id] = values[offset:offset + np.size(x)].reshape(np.shape(x))
        offset += np.size(x)


def calls_of(plan: Plan, func: str) -> list[Call]:
    return [c for c in plan.calls if c.func == func]


def values_criterion(name: str, points: float, func: str, mistakes: Sequence[Mistake] = (),
                     tags: Sequence[str] | None = None, finite: bool = False, **tol) -> Criterion:
    """All calls of ``func`` (optionally only those tagged ``tags``) match the key."""

    def check(plan: Plan, results: Results) -> None:
        def one(call: Call) -> None:
            x = call.args[0]
            expected = plan.expected[call.id]
            got = array_result(results, call, np.shape(expected))
            if finite:
                assert_finite(got, call, inputs=x)
            known = [(wrong(*call.args, **call.kwargs), meaning) for wrong, meaning in mistakes]
            assert_close(got, expected, call, inputs=x, mistakes=known, **tol)

        calls = [c for c in calls_of(plan, func) if tags is None or c.id.split("/")[-1] in tags]
        each(calls, one)

    return Criterion(name, points, check)


def unmutated_criterion(points: float, funcs: Sequence[str], name: str = "inputs are not modified") -> Criterion:
    """No call of ``funcs`` modifies its inputs.

    A function the student did not write modified nothing, so its calls are
    left to its own criteria (one missing name must not cost the others'
    points); at least one of ``funcs`` must be defined to earn this one.
    """

    def check(plan: Plan, results: Results) -> None:
        calls = [c for c in plan.calls if c.func in funcs]
        defined = [c for c in calls if results.get(c.id, NOT_RUN).status != "undefined"]
        each(defined or calls, lambda call: assert_not_mutated(results, call))

    return Criterion(name, points, check)
