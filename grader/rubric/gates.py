"""Gates: what must hold before a secondary criterion counts.

Shape, "inputs are not modified", "raises ValueError", sums to 1, symmetry and the
like are true of many answers that do no work (zeros are symmetric and modify
nothing, a uniform 1/n sums to 1, a function that raises everywhere raises
ValueError). They reward the extra care of a function that computes the right
values, so a criterion carries a gate (``Criterion.gate``) that
:func:`grader.rubric.runner.run_criteria` checks first: the function is right on at
least one of its random inputs, whose answer key no constant matches. A gate
belongs to its criterion, so a criterion run alone (an Otter hidden test) gives
the same verdict as the whole rubric.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np

from grader.rubric.checks import ATOL, RTOL, CheckFailure, Results
from grader.rubric.runner import Criterion, Gate
from grader.rubric.probes import Call, Plan

__all__ = ["Gate", "gated", "informative", "right_somewhere"]


def gated(gate: Gate, *criteria: Criterion) -> tuple[Criterion, ...]:
    """``criteria`` with ``gate``."""
    return tuple(Criterion(c.name, c.points, c.check, gate) for c in criteria)


def informative(*keys: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """No constant matches all these answer keys to tolerance (so matching them takes work)."""
    parts = [np.ravel(np.asarray(k, dtype=np.float64)) for k in keys]
    values = np.concatenate(parts) if parts else np.zeros(0)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return False
    spread = float(np.max(values) - np.min(values))
    return spread > 4.0 * (atol + rtol * float(np.max(np.abs(values))))


def right_somewhere(what: str, groups: Callable[[Plan], Iterable[Sequence[Call]]],
                    one: Callable[[Plan, Results, Call], None]) -> Gate:
    """A gate met when every call of at least one group passes ``one``.

    ``groups(plan)`` lists groups of calls (a random input, or several 0-d inputs together)
    whose answer keys are :func:`informative`, so that no constant, and no answer that
    does no work, can meet the gate. The failure reported is the first group's.
    """

    def check(plan: Plan, results: Results) -> None:
        first: CheckFailure | None = None
        for group in groups(plan):
            try:
                for call in group:
                    one(plan, results, call)
            except CheckFailure as failure:
                first = first or failure
            else:
                return
        raise first or CheckFailure("no input of this kind was graded.")

    return Gate(what, check)
