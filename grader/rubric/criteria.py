"""Criteria, built one way for every exercise: which calls, the check of one call, the gate.

Every exercise module builds its rubric from these factories, with one argument order:
``(name, points, calls, one, gate)``: the criterion's name (what the student reads), its
points, the calls it grades (:func:`calls`: by function and tag, through
:meth:`grader.rubric.probes.Plan.select`), the check of one call (``one(plan, results, call)``,
which passes or raises a CheckFailure) and, for a secondary criterion, the gate it counts
behind (:func:`works`). A check that is not one per call (a pair of calls, reproducibility
across calls) is a :class:`~grader.rubric.runner.Criterion` of the same order, ``(name, points,
check, gate)``.

A known mistake (:class:`Mistake`) is a wrong formula of the call's arguments and what it
means; :func:`known` evaluates a table of them lazily, so that :func:`grader.rubric.checks.assert_close`
computes them only once the values have failed, and recognises them at one tolerance
(:data:`grader.rubric.checks.MISTAKE_RTOL`, :data:`~grader.rubric.checks.MISTAKE_ATOL`).
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from grader.rubric.checks import NOT_RUN, Results, assert_none_mutated, assert_raises_value_error, each
from grader.rubric.gates import informative, right_somewhere
from grader.rubric.probes import Call, Plan
from grader.rubric.record import CallStatus
from grader.rubric.runner import Criterion, Gate

#: Which calls a criterion grades: a function of the plan (see :func:`calls`).
Select = Callable[[Plan], Sequence[Call]]
#: The check of one call: passes, or raises a CheckFailure that says why.
One = Callable[[Plan, Results, Call], None]
#: The tag of the 0-d inputs, which a gate takes together (one number alone is too easy to guess).
ZERO_D = "0d"


class Mistake(NamedTuple):
    """A known wrong formula (of the call's arguments, and whatever else its exercise passes) and what it means."""

    formula: Callable[..., Any]
    meaning: str


def quiet(formula: Callable[..., Any]) -> Callable[..., Any]:
    """``formula`` with NumPy's floating-point warnings off: a wrong formula may well overflow where the right
    one does not (and the tests call the formulas as a student's functions too)."""
    @functools.wraps(formula)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return formula(*args, **kwargs)
    return wrapped


def mistakes(*pairs: tuple[Callable[..., Any], str]) -> tuple[Mistake, ...]:
    """``(formula, meaning)`` pairs as Mistakes (each formula :func:`quiet`), in the order in which they are tried."""
    return tuple(Mistake(quiet(formula), meaning) for formula, meaning in pairs)


def known(table: Iterable[Mistake], *args: Any, **kwargs: Any) -> Iterator[tuple[np.ndarray, str]]:
    """(value, meaning) of each mistake of ``table`` on these arguments, computed one at a time, when asked,
    with floating-point warnings off (see :func:`quiet`)."""
    for formula, meaning in table:
        yield np.asarray(quiet(formula)(*args, **kwargs), dtype=np.float64), meaning


def calls(func: str | Sequence[str] | None = None, tags: str | Sequence[str] | None = None, *,
          with_kwargs: bool | None = None, order: Callable[[Call], Any] | None = None) -> Select:
    """The calls of ``func`` with one of ``tags`` (see :meth:`Plan.select`), in the plan's order or by ``order``."""

    def select(plan: Plan) -> list[Call]:
        chosen = plan.select(func=func, tags=tags, with_kwargs=with_kwargs)
        return sorted(chosen, key=order) if order is not None else chosen

    return select


def each_call(name: str, points: float, select: Select, one: One, gate: Gate | None = None) -> Criterion:
    """Every selected call passes ``one``; the first failure is reported, with how many others fail."""

    def check(plan: Plan, results: Results) -> None:
        each(select(plan), lambda call: one(plan, results, call))

    return Criterion(name, points, check, gate)


def unmutated(name: str, points: float, select: Select, gate: Gate | None = None) -> Criterion:
    """No selected call that returned modified its inputs.

    A function the student did not write modified nothing, so its calls are left to its
    own criteria (one missing name must not cost the others' points); at least one of the
    selected functions must be defined to earn this one.
    """

    def check(plan: Plan, results: Results) -> None:
        chosen = select(plan)
        defined = [c for c in chosen if results.get(c.id, NOT_RUN).status != CallStatus.UNDEFINED]
        assert_none_mutated(results, defined or chosen)

    return Criterion(name, points, check, gate)


def raises_value_error(name: str, points: float, select: Select, gate: Gate | None = None) -> Criterion:
    """Every selected call raises ValueError (or a subclass)."""
    return each_call(name, points, select, lambda plan, results, call: assert_raises_value_error(results, call), gate)


def gate_groups(plan: Plan, chosen: Sequence[Call], key: Callable[[Any], Any] | None = None) -> list[list[Call]]:
    """``chosen`` as the groups of a gate: the 0-d calls together, every other call alone; only the groups
    whose answer keys (``key`` of each) are :func:`~grader.rubric.gates.informative`."""
    zero_d = [c for c in chosen if c.tag == ZERO_D]
    groups = [zero_d] + [[c] for c in chosen if c.tag != ZERO_D]
    pick = key or (lambda k: k)
    return [g for g in groups if g and informative(*(pick(plan.expected[c.id]) for c in g))]


def works(what: str, select: Select, one: One, key: Callable[[Any], Any] | None = None) -> Gate:
    """The gate "``what``": every call of at least one :func:`gate_groups` group of the selected calls passes ``one``."""
    token = object()  # this gate's own entry in each plan's ``derived``

    def groups(plan: Plan) -> list[list[Call]]:
        found = plan.derived.get(token)
        if found is None:
            found = plan.derived[token] = gate_groups(plan, select(plan), key)
        return found

    return right_somewhere(what, groups, one)
