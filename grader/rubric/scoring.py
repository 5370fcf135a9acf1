"""From validated probe outcomes to points, one exercise at a time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from grader.rubric.checks import Outcome
from grader.rubric.runner import CriterionResult, run_criteria
from grader.rubric.exercise import Exercise
from grader.rubric.probes import Plan


@dataclass
class ExerciseScore:
    """Points of one exercise with the feedback that explains them."""

    id: str
    title: str
    points: float
    max_points: float
    criteria: list[CriterionResult] = field(default_factory=list)
    note: str = ""

    @property
    def feedback(self) -> str:
        lines = [f"{self.id}: {self.title}: {self.points:g} / {self.max_points:g}"]
        if self.note:
            lines.append(self.note)
        for c in self.criteria:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"[{mark}] {c.name} ({c.points:g}/{c.max_points:g})")
            if c.message:
                lines.extend("    " + line for line in c.message.splitlines())
        return "\n".join(lines)


def score_exercise(exercise: Exercise, plan: Plan, outcomes: Mapping[str, Outcome], note: str = "") -> ExerciseScore:
    results = run_criteria(exercise.criteria, plan, outcomes)
    total = round(sum(r.points for r in results), 6)
    return ExerciseScore(exercise.id, exercise.title, total, float(exercise.points), results, note)
