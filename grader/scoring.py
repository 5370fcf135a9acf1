"""From validated probe outcomes to points, one exercise at a time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from grader.checks import CriterionResult, Outcome, run_criteria
from grader.exercises import Exercise
from grader.probes import Plan
from grader.text import identifier, one_line, plain
from grader.wire import WireError, read_result

STATUSES = {"ok", "raised", "undefined", "timeout", "crashed", "not-run", "invalid"}


def outcome_from_record(rec: Any) -> Outcome:
    """Validate one call record from the (untrusted) worker; its text becomes plain text (grader.text)."""
    if not isinstance(rec, Mapping) or rec.get("status") not in STATUSES:
        return Outcome("invalid", error_message="the worker sent a malformed record")
    status = rec["status"]
    mutated = rec.get("mutated", [])
    mutated = tuple(one_line(m, 40) for m in mutated[:16] if isinstance(m, str)) if isinstance(mutated, list) else ()
    if status != "ok":
        return Outcome(status, error_type=identifier(rec["error_type"]) if "error_type" in rec else "",
                       error_message=plain(rec.get("error_message")),
                       is_value_error=rec.get("is_value_error") is True, mutated=mutated)
    try:
        decoded = read_result(rec.get("result"))
    except (WireError, ValueError, TypeError, RecursionError) as exc:
        return Outcome("invalid", error_message=plain(f"unreadable result ({exc})"))
    return Outcome("ok", value=decoded.value, mutated=mutated, source_dtype=one_line(decoded.source_dtype, 40),
                   container=decoded.container)


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
