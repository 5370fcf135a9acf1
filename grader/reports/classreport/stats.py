"""Every number the class report shows, computed once: per submission, per exercise, per class,
and ``summary.csv``."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.reports.classreport.grouping import FailureGroup, failure_groups
from grader.reports.classreport.model import EPS, Submission
from grader.rubric.exercises import EXERCISES
from grader.reports.files import atomic_write
from grader.core.text import csv_cell

SUMMARY_COLUMNS = ["exercise", "title", "points", "mean", "mean_fraction", "full", "partial", "zero", "not_graded"]


@dataclass
class ExerciseStats:
    id: str
    title: str
    points: float
    mean: float | None
    mean_fraction: float | None
    full: int
    partial: int
    zero: int
    not_graded: int

    def row(self) -> dict[str, Any]:
        return {"exercise": self.id, "title": self.title, "points": f"{self.points:g}",
                "mean": "" if self.mean is None else f"{round(self.mean, 4):g}",
                "mean_fraction": "" if self.mean_fraction is None else f"{self.mean_fraction:.4f}",
                "full": self.full, "partial": self.partial, "zero": self.zero, "not_graded": self.not_graded}


@dataclass
class CriterionStats:
    """How many graded submissions passed one criterion of one exercise (``order``: the rubric's)."""

    exercise: str
    name: str
    max_points: float
    passed: int
    graded: int
    order: int

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class ClassSummary:
    submissions: list[Submission]
    unreadable: list[tuple[str, str]]
    exercises: list[ExerciseStats]
    groups: dict[str, list[FailureGroup]]
    count: int = 0
    scored: int = 0
    mean: float | None = None
    median: float | None = None
    possible: float = 0.0
    full_marks: int = 0
    statuses: Counter = field(default_factory=Counter)
    not_graded: Counter = field(default_factory=Counter)
    criteria: list[CriterionStats] = field(default_factory=list)

    @property
    def scored_subs(self) -> list[Submission]:
        return [s for s in self.submissions if s.scored]


def _exercise_order(subs: list[Submission]) -> list[str]:

    known = list(EXERCISES)
    seen = {q for s in subs for q in s.exercises}

    def key(q: str):
        if q in known:
            return (0, known.index(q), q)
        digits = re.sub(r"\D", "", q)
        return (1, int(digits) if digits else 10**9, q)

    return sorted(seen, key=key)


def _title_and_points(q: str, subs: list[Submission]) -> tuple[str, float]:
    """The most common title and points in the records; the exercise table only if no record has any."""
    titles = Counter(s.exercises[q].title for s in subs if q in s.exercises and s.exercises[q].title)
    points = Counter(s.exercises[q].max_score for s in subs if s.exercise_graded(q))
    if not points:
        points = Counter(s.exercises[q].max_score for s in subs if q in s.exercises)
    title = titles.most_common(1)[0][0] if titles else ""
    if not title or not points:

        ex = EXERCISES.get(q)
        title = title or (ex.title if ex else q)
        if not points and ex:
            points[float(ex.points)] = 1
    return title, (points.most_common(1)[0][0] if points else 0.0)


def summarise(subs: list[Submission], unreadable: list[tuple[str, str]] | None = None) -> ClassSummary:
    """Every number the report shows, computed once."""
    import statistics

    summary = ClassSummary(subs, list(unreadable or []), [], {})
    summary.count = len(subs)
    summary.statuses = Counter(s.status for s in subs)
    summary.not_graded = Counter(s.status for s in subs if not s.scored)
    scored = [s for s in subs if s.scored]
    summary.scored = len(scored)
    if scored:
        totals = [s.score for s in scored]
        summary.mean = statistics.fmean(totals)
        summary.median = float(statistics.median(totals))
        summary.possible = Counter(s.possible for s in scored).most_common(1)[0][0]
        summary.full_marks = sum(s.possible > 0 and s.score >= s.possible - EPS for s in scored)
    for q in _exercise_order(subs):
        title, points = _title_and_points(q, subs)
        graded = [s.exercises[q] for s in subs if s.exercise_graded(q)]
        full = partial = zero = 0
        if points > 0:
            for e in graded:
                if e.max_score > 0 and e.score >= e.max_score - EPS:
                    full += 1
                elif e.score <= EPS:
                    zero += 1
                else:
                    partial += 1
        mean = statistics.fmean(e.score for e in graded) if graded else None
        fraction = mean / points if mean is not None and points > 0 else None
        summary.exercises.append(ExerciseStats(q, title, points, mean, fraction, full, partial, zero,
                                               len(subs) - len(graded)))
        summary.groups[q] = failure_groups(subs, q)
        summary.criteria += criterion_stats(subs, q, start=len(summary.criteria))
    return summary


def criterion_stats(subs: list[Submission], q: str, start: int = 0) -> list[CriterionStats]:
    """The pass count of every criterion of ``q`` over the submissions whose ``q`` was graded, in rubric order."""
    stats: dict[str, CriterionStats] = {}
    for s in subs:
        if not s.exercise_graded(q):
            continue
        for c in s.exercises[q].criteria:
            st = stats.get(c.name)
            if st is None:
                st = stats[c.name] = CriterionStats(q, c.name, c.max_points, 0, 0, start + len(stats))
            st.graded += 1
            st.passed += c.points >= c.max_points - EPS
    return list(stats.values())


def write_summary_csv(path: Path, summary: ClassSummary) -> None:

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in ex.row().items()} for ex in summary.exercises)
    atomic_write(path, buf.getvalue())


def fraction(s: Submission, e: ExerciseStats) -> float | None:
    """The share of exercise ``e``'s points that ``s`` earned, in [0, 1]; None when not graded or worth nothing."""
    if not s.exercise_graded(e.id):
        return None
    ex = s.exercises[e.id]
    points = ex.max_score if ex.max_score > 0 else e.points
    return min(1.0, max(0.0, ex.score / points)) if points > 0 else None
