"""Grading functions in this process, shared by the grader's own tests (not part of the package).

This runs a plan's calls directly on a namespace, through the same plain-data
encoding the worker uses, with no sandbox. It exists to test checks quickly
against known right and wrong implementations; never use it on student code.
"""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from grader.sandbox.worker.calls import run_call
from grader.rubric.checks import Outcome
from grader.rubric.runner import CriterionResult, run_criteria
from grader.rubric.exercise import Exercise
from grader.rubric.exercises import EXERCISES
from grader.pipeline.execution import wire_call
from grader.sandbox.outcomes import outcome_from_record
from grader.rubric.probes import Plan

__all__ = ["namespace_of", "run_plan", "grade_source", "grade_quietly", "criterion_named", "points", "failed",
           "message_of", "wire_call"]


def namespace_of(source: str) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(source), "<solution>", "exec"), ns)
    return ns


def run_plan(plan: Plan, ns: dict[str, Any]) -> dict[str, Outcome]:
    return {c.id: outcome_from_record(run_call(ns, wire_call(c))) for c in plan.calls}


def grade_source(exercise: str, source: str, seed: int = 0) -> list[CriterionResult]:
    """Criterion results of ``exercise`` for functions defined by ``source``."""
    ex = EXERCISES[exercise]
    with np.errstate(all="ignore"):
        plan = ex.plan(seed)
    return run_criteria(ex.criteria, plan, run_plan(plan, namespace_of(source)))


def grade_quietly(exercise: str, source: str, seed: int = 0) -> list[CriterionResult]:
    """:func:`grade_source` with NumPy's floating-point warnings off (wrong answers overflow)."""
    with np.errstate(all="ignore"):
        return grade_source(exercise, source, seed)


def criterion_named(exercise: Exercise, fragment: str) -> str:
    """The one criterion name of ``exercise`` that contains ``fragment``."""
    names = [c.name for c in exercise.criteria if fragment in c.name]
    assert len(names) == 1, (fragment, names)
    return names[0]


def points(results: list[CriterionResult]) -> float:
    return sum(r.points for r in results)


def failed(results: list[CriterionResult]) -> set[str]:
    """Names of the criteria that did not pass."""
    return {r.name for r in results if not r.passed}


def message_of(results: list[CriterionResult], name: str) -> str:
    """The feedback of criterion ``name``."""
    return next(r.message for r in results if r.name == name)
