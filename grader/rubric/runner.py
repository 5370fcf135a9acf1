"""The rubric's runner: criteria, their gates, and running them one by one.

A :class:`Criterion` is worth its points, all or nothing; a :class:`Gate` says what must hold
before a secondary criterion counts (``grader.rubric.gates`` builds gates, ``grader.rubric.criteria`` builds
criteria). :func:`run_criteria` runs a rubric so that a failure, an unmet gate or a bug in one
check costs only that criterion. Apart from the assertions (``grader.rubric.checks``), which a check
raises and this module only catches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from grader.rubric.checks import CheckFailure, Results
from grader.rubric.probes import Plan

CheckFn = Callable[[Plan, Results], None]


class NotEarned(CheckFailure):
    """A secondary criterion (shape, no mutation, a property...) whose function does not work yet."""


class CheckError(CheckFailure):
    """The check itself raised: the criterion is lost, with this message, and nothing else."""


@dataclass(frozen=True)
class Gate:
    """A condition on the values (``check`` passes or raises CheckFailure); ``what`` completes "counts once ...".

    Defined here, with the criterion that carries it; ``grader.rubric.gates`` builds gates."""

    what: str
    check: CheckFn


@dataclass(frozen=True)
class Criterion:
    """One sub-check worth ``points``, all or nothing; with a ``gate``, only once it is met."""

    name: str
    points: float
    check: CheckFn
    gate: Gate | None = None


@dataclass
class CriterionResult:
    name: str
    points: float
    max_points: float
    message: str = ""
    failure: CheckFailure | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.failure is None


def _guarded(check: CheckFn, plan: Plan, results: Results) -> CheckFailure | None:
    """The failure of ``check``, or None; an exception that is not a CheckFailure becomes a CheckError."""
    try:
        check(plan, results)
    except CheckFailure as failure:
        return failure
    except Exception as exc:  # noqa: BLE001 - a check must never take the submission down
        return CheckError(f"this criterion could not be checked: {type(exc).__name__}: {str(exc)[:200]}",
                          hint="the values returned are probably unusual (constant, empty, huge); "
                               "the other criteria are graded as usual.", error_type=type(exc).__name__)
    return None


def _not_earned(gate: Gate, failure: CheckFailure) -> NotEarned:
    """The message of a gated criterion whose gate is not met: short, the failing criteria say the rest."""
    first = failure.message.splitlines()[0] if failure.message else ""
    why = f" ({first})" if first and len(first) <= 120 else ""
    return NotEarned(f"not awarded yet: this criterion counts once {gate.what}{why}; "
                     "the failing criteria above say what to fix.", gate=gate.what)


def run_criteria(criteria: Sequence[Criterion], plan: Plan, results: Results) -> list[CriterionResult]:
    """Run every criterion; a failure, an unmet gate or a bug in one check costs only that criterion."""
    gates: dict[int, CheckFailure | None] = {}
    out = []
    for c in criteria:
        failure = None
        if c.gate is not None:
            if id(c.gate) not in gates:
                gates[id(c.gate)] = _guarded(c.gate.check, plan, results)
            if gates[id(c.gate)] is not None:
                failure = _not_earned(c.gate, gates[id(c.gate)])
        if failure is None:
            failure = _guarded(c.check, plan, results)
        if failure is None:
            out.append(CriterionResult(c.name, c.points, c.points))
        else:
            out.append(CriterionResult(c.name, 0.0, c.points, str(failure), failure))
    return out
