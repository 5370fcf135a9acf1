"""Grading functions in this process, for the grader's own tests.

This runs a plan's calls directly on a namespace, through the same plain-data
encoding the worker uses, with no sandbox. It exists to test checks quickly
against known right and wrong implementations; never use it on student code.
"""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from grader.checks import CriterionResult, Outcome, run_criteria
from grader.exercises import EXERCISES
from grader.execution import wire_call
from grader.probes import Plan
from grader.scoring import outcome_from_record
from grader import worker


def namespace_of(source: str) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(source), "<solution>", "exec"), ns)
    return ns


def run_plan(plan: Plan, ns: dict[str, Any]) -> dict[str, Outcome]:
    return {c.id: outcome_from_record(worker.run_call(ns, wire_call(c))) for c in plan.calls}


def grade_source(exercise: str, source: str, seed: int = 0) -> list[CriterionResult]:
    """Criterion results of ``exercise`` for functions defined by ``source``."""
    ex = EXERCISES[exercise]
    with np.errstate(all="ignore"):
        plan = ex.plan(seed)
    return run_criteria(ex.criteria, plan, run_plan(plan, namespace_of(source)))


def points(results: list[CriterionResult]) -> float:
    return sum(r.points for r in results)


def failed(results: list[CriterionResult]) -> set[str]:
    """Names of the criteria that did not pass."""
    return {r.name for r in results if not r.passed}


def message_of(results: list[CriterionResult], name: str) -> str:
    """The feedback of criterion ``name``."""
    return next(r.message for r in results if r.name == name)
