"""Reading ``results/`` into the class report's model: each record validated into plain data.

Only the grader's own records count (through :func:`grader.report.read_record`); a file that is
not one, or a record that is incomplete, is listed as unreadable and left out of every number.
Every string is made printable here; escaping is the page's business (:mod:`.page`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.text import plain
from grader.report import read_record

SCORED_STATUSES = {"graded", "timeout", "crashed"}
EPS = 1e-9
FOREIGN = "not a results file written by this grader (unreadable, damaged or foreign JSON)"


@dataclass
class Criterion:
    name: str
    points: float
    max_points: float
    message: str
    kind: str


@dataclass
class ExerciseResult:
    title: str
    score: float
    max_score: float
    criteria: list[Criterion]


@dataclass
class Submission:
    file: str
    status: str
    message: str
    score: float
    possible: float
    exercises: dict[str, ExerciseResult]
    cell_errors: list[dict[str, str]]
    version: str

    @property
    def scored(self) -> bool:
        return self.status in SCORED_STATUSES or any(e.criteria for e in self.exercises.values())

    def exercise_graded(self, q: str) -> bool:
        return self.scored and q in self.exercises


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return float(value)


def _text(value: Any) -> str:
    """Printable text (grader.text.plain): records are ours, but the page must not trust a file."""
    return "" if value is None else plain(str(value), 20_000)


def parse_record(record: dict) -> Submission:
    """A record as plain, validated data; ``ValueError`` if it is not a complete grader record."""
    try:
        exercises = {}
        if not isinstance(record["exercises"], dict):
            raise TypeError("exercises is not a mapping")
        for q, ex in record["exercises"].items():
            criteria = [Criterion(_text(c["name"]), _num(c["points"], "points"), _num(c["max_points"], "max_points"),
                                  _text(c.get("message")), _text(c.get("kind")))
                        for c in ex.get("criteria") or []]
            exercises[str(q)] = ExerciseResult(_text(ex.get("title")), _num(ex["score"], f"{q} score"),
                                               _num(ex["max_score"], f"{q} max_score"), criteria)
        cells = record.get("cells") or {}
        errors = [{k: _text(err.get(k)) for k in ("cell", "type", "message", "line")}
                  for err in (cells.get("errors") or [])]
        provenance = record.get("provenance") or {}
        return Submission(_text(record.get("file")) or "(no name)", _text(record.get("status")) or "unknown",
                          _text(record.get("message")), _num(record["score"], "score"),
                          _num(record["possible"], "possible"), exercises, errors,
                          _text(provenance.get("grader_version")) if isinstance(provenance, dict) else "")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def load_results(out_dir: Path) -> tuple[list[Submission], list[tuple[str, str]]]:
    """(submissions, unreadable) from ``out_dir/results/*.json``; unreadable is (file name, why)."""

    subs: list[Submission] = []
    unreadable: list[tuple[str, str]] = []
    results = Path(out_dir) / "results"
    paths = sorted(results.glob("*.json")) if results.is_dir() else []
    for path in paths:
        record = read_record(path)
        if record is None:
            unreadable.append((path.name, FOREIGN))
            continue
        try:
            subs.append(parse_record(record))
        except ValueError as exc:
            unreadable.append((path.name, f"an incomplete grader record ({exc})"))
    subs.sort(key=lambda s: s.file)
    return subs, unreadable
