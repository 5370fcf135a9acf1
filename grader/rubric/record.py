"""The result record of one submission: what ``results/<name>.json`` carries in ``extra_data``.

One typed value (frozen dataclasses) built in one place and read by everything after the
grading: the results files, the feedback, the CSV, regrades, merging, the class report and the
Otter plugin. ``SubmissionRecord.to_dict`` gives the JSON form, ``SubmissionRecord.from_dict``
reads it back (and validates it: a results file is read from disk, and may be damaged or
foreign). ``from_dict(r.to_dict()) == r`` for every record, and ``to_dict(from_dict(d)) == d``
for every complete record the grader wrote: numbers keep their type (an ``int`` stays an
``int``), so a record written again is byte-for-byte the same.

Pure data: no I/O, nothing of the exercises (their ids, titles and points are passed in).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum
from typing import Any

from grader.rubric.json_fields import Convert, RecordError
from grader.rubric.json_fields import integer as _int
from grader.rubric.json_fields import items as _items
from grader.rubric.json_fields import mapping as _mapping
from grader.rubric.json_fields import number as _number
from grader.rubric.json_fields import optional_number as _optional_number
from grader.rubric.json_fields import require as _require
from grader.rubric.json_fields import text as _text

SCHEMA = 1


class _Text(str, Enum):
    """An enum whose members are their text: equal to it, hashed like it, written as it (``str``,
    f-strings, JSON, CSV), so a value read from a file compares equal to the member and every
    output keeps its bytes. Compare with the members, never with a literal (``tests/test_statuses.py``)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def of(cls, text: str) -> Any:
        """The member whose text is ``text``, or ``text`` itself when none is (a record from elsewhere)."""
        return cls._value2member_map_.get(text, text)


class Status(_Text):
    """A submission's status, the ``status`` of its record and its CSV row. ``graded`` and ``timeout``
    keep the points earned; every other one scores 0 with the reason in every exercise's feedback,
    and ``error`` (the grader failed, not the submission) has no score at all in the outputs."""

    GRADED = "graded"
    TIMEOUT = "timeout"  # the submission used up its time: what ran before is graded
    ERROR = "error"  # the grading side failed (its worker was lost, its sandbox would not start)
    INVALID_NOTEBOOK = "invalid-notebook"  # not a notebook nbformat can read
    UNREADABLE = "unreadable"  # not UTF-8 text (or an archive member that cannot be read)
    TOO_LARGE = "too-large"  # over a bound of reading (bytes, values, cells, code)
    REFUSED = "refused"  # an archive member that is not opened (a link, a path out of the archive ...)


class CallStatus(_Text):
    """What became of one call of a student function (``grader.rubric.checks.Outcome.status``)."""

    OK = "ok"  # it returned: the outcome holds the value
    RAISED = "raised"  # it raised (``error_type``/``error_message``)
    UNDEFINED = "undefined"  # the function does not exist
    TIMEOUT = "timeout"  # the call or its exercise ran out of time
    CRASHED = "crashed"  # the process died or the channel broke during the exercise
    NOT_RUN = "not-run"  # the submission's time ran out first
    INVALID = "invalid"  # the worker's record was malformed, or the result could not be read


#: The statuses by their old names (``from grader.rubric.record import ERROR`` keeps working).
GRADED, TIMEOUT, ERROR = Status.GRADED, Status.TIMEOUT, Status.ERROR
SCORED_STATUSES = frozenset({GRADED, TIMEOUT})

Number = int | float


# -- the parts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriterionRecord:
    """One criterion of one exercise: its points and, when it failed, what the student reads."""

    name: str
    points: Number
    max_points: Number
    message: str = ""
    kind: str | None = None  # the failure's class (``Mismatch``, ``CallFailed`` ...); None when it passed

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points

    def to_dict(self) -> dict:
        return {"name": self.name, "points": self.points, "max_points": self.max_points, "message": self.message,
                "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any, where: str = "criterion", convert: Convert = None) -> CriterionRecord:
        return _plain_criterion(data, convert) or cls._checked(data, where, convert)

    @classmethod
    def _checked(cls, data: Any, where: str, convert: Convert) -> CriterionRecord:
        data = _mapping(data, where)
        return cls(_text(_require(data, "name", where), f"{where}.name", None, convert),
                   _number(_require(data, "points", where), f"{where}.points"),
                   _number(_require(data, "max_points", where), f"{where}.max_points"),
                   _text(data.get("message"), f"{where}.message", "", convert),
                   _text(data.get("kind"), f"{where}.kind", None, convert))


def _plain_criterion(data: Any, convert: Convert) -> CriterionRecord | None:
    """The common case of ``CriterionRecord.from_dict`` (a JSON object with every field of the right type),
    read without building the names of fields for complaints; None for anything else, which the checked
    path then reads (and names the field that is wrong). A record has a hundred criteria or more."""
    if type(data) is not dict:
        return None
    name, points, max_points = data.get("name"), data.get("points"), data.get("max_points")
    message, kind = data.get("message", ""), data.get("kind")
    if not (type(name) is str and (type(message) is str or message is None) and (kind is None or type(kind) is str)
            and (type(points) is int or type(points) is float and math.isfinite(points))
            and (type(max_points) is int or type(max_points) is float and math.isfinite(max_points))):
        return None
    if message is None:
        message = ""
    if convert is not None:
        name, message, kind = convert(name), convert(message), None if kind is None else convert(kind)
    return CriterionRecord(name, points, max_points, message, kind)


@dataclass(frozen=True)
class ExerciseRecord:
    """One exercise's points, its feedback as text, and its criteria.

    An exercise that was not graded (the submission could not be read or run) has no criteria
    and no ``note``: its feedback says why. A graded one has a ``note`` (empty unless the grader
    stopped the exercise because a function hung or crashed the process).
    """

    title: str
    score: Number
    max_score: Number
    feedback: str = ""
    note: str | None = None
    criteria: tuple[CriterionRecord, ...] = ()

    @classmethod
    def not_graded(cls, q: str, title: str, points: Number, why: str) -> ExerciseRecord:
        """Zero points, and why, for an exercise of a submission that was not graded."""
        return cls(title, 0.0, float(points), f"{q}: {title}: 0 / {points}\n{why}")

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"title": self.title, "score": self.score, "max_score": self.max_score,
                               "feedback": self.feedback}
        if self.note is not None:
            out["note"] = self.note
        out["criteria"] = [c.to_dict() for c in self.criteria]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "exercise", convert: Convert = None) -> ExerciseRecord:
        data = _mapping(data, where)
        criteria = tuple(_plain_criterion(c, convert) or CriterionRecord._checked(c, f"{where}.criteria[{i}]", convert)
                         for i, c in enumerate(_items(data.get("criteria"), f"{where}.criteria")))
        return cls(_text(data.get("title"), f"{where}.title", "", convert),
                   _number(_require(data, "score", where), f"{where}.score"),
                   _number(_require(data, "max_score", where), f"{where}.max_score"),
                   _text(data.get("feedback"), f"{where}.feedback", "", convert),
                   _text(data.get("note"), f"{where}.note", None, convert), criteria)


@dataclass(frozen=True)
class CellError:
    """A notebook cell that raised (``type``/``message`` as the submission reported them), hung or crashed
    (``type`` ``Timeout`` or ``Crash``). ``cell`` counts from 1."""

    cell: int | None
    type: str
    message: str
    line: int | None = None

    def to_dict(self) -> dict:
        return {"cell": self.cell, "type": self.type, "message": self.message, "line": self.line}

    @classmethod
    def from_dict(cls, data: Any, where: str, convert: Convert = None) -> CellError:
        data = _mapping(data, where)
        line = data.get("line")
        return cls(_int(data.get("cell"), f"{where}.cell"), _text(data.get("type"), f"{where}.type", "", convert),
                   _text(data.get("message"), f"{where}.message", "", convert), line if type(line) is int else None)


@dataclass(frozen=True)
class SkippedCell:
    """A cell left out of the second run because it hung or crashed the first one."""

    cell: int | None
    why: str

    def to_dict(self) -> dict:
        return {"cell": self.cell, "why": self.why}

    @classmethod
    def from_dict(cls, data: Any, where: str, convert: Convert = None) -> SkippedCell:
        data = _mapping(data, where)
        return cls(_int(data.get("cell"), f"{where}.cell"), _text(data.get("why"), f"{where}.why", "", convert))


@dataclass(frozen=True)
class Cells:
    """What ran of the notebook; ``count`` is None when nothing ran (written as ``{}``)."""

    count: int | None = None
    errors: tuple[CellError, ...] = ()
    skipped: tuple[SkippedCell, ...] = ()

    def to_dict(self) -> dict:
        if self.count is None and not self.errors and not self.skipped:
            return {}
        return {"count": self.count, "errors": [e.to_dict() for e in self.errors],
                "skipped": [s.to_dict() for s in self.skipped]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "cells", convert: Convert = None) -> Cells:
        data = _mapping(data, where, {})
        return cls(_int(data.get("count"), f"{where}.count"),
                   tuple(CellError.from_dict(e, f"{where}.errors[{i}]", convert)
                         for i, e in enumerate(_items(data.get("errors"), f"{where}.errors"))),
                   tuple(SkippedCell.from_dict(s, f"{where}.skipped[{i}]", convert)
                         for i, s in enumerate(_items(data.get("skipped"), f"{where}.skipped"))))


@dataclass(frozen=True)
class Provenance:
    """Where a result came from: its key (content, grader version, seed, conditions), how it was graded, and when.

    ``cpu`` (where the submission's CPU went, in ms; absent when nothing ran) is informational, and
    partly reported by the sandbox: it is shown, never used to decide anything.
    """

    key: str | None = None
    grader_version: str | None = None
    seed: int | None = None
    content_sha256: str | None = None
    sandbox: str | None = None
    executor: str | None = None
    isolation: str | None = None
    graded_at: str | None = None
    cpu: Mapping[str, Any] | None = None
    seconds: Number | None = None
    #: What else the key covers (``grader.pipeline.tasks.conditions``: limits, requested isolation, how seeds are chosen).
    conditions: Mapping[str, Any] | None = None
    #: Why the grader failed on this submission (status ``error``): for the instructor, never the student.
    error: str | None = None

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for optional in ("cpu", "conditions", "error"):  # absent from records that have none
            if out[optional] is None:
                del out[optional]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "provenance", convert: Convert = None) -> Provenance:
        data = _mapping(data, where, {})
        text = {name: _text(data.get(name), f"{where}.{name}", None, convert)
                for name in ("key", "grader_version", "content_sha256", "sandbox", "executor", "isolation",
                             "graded_at")}
        cpu, conditions = data.get("cpu"), data.get("conditions")
        return cls(**text, seed=_int(data.get("seed"), f"{where}.seed"),
                   cpu=None if cpu is None else dict(_mapping(cpu, f"{where}.cpu")),
                   seconds=_optional_number(data.get("seconds"), f"{where}.seconds"),
                   conditions=None if conditions is None else dict(_mapping(conditions, f"{where}.conditions")),
                   error=_text(data.get("error"), f"{where}.error", None, convert))


# -- the record ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmissionRecord:
    """Everything the grader says about one submission (see the module docstring).

    ``exercises`` maps the exercise id (``q1`` ...) to its result, in the exercises' order.
    ``status`` is ``graded``, ``timeout`` or why it was not graded (``invalid-notebook``,
    ``unreadable``, ``too-large``, ``error``); ``message`` says what went wrong and what to do.
    """

    file: str
    status: Status | str  # a Status; the text itself only in a record from elsewhere with another
    score: Number
    possible: Number
    exercises: Mapping[str, ExerciseRecord]
    message: str = ""
    cells: Cells = field(default_factory=Cells)
    notes: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    schema: int = SCHEMA

    @classmethod
    def graded(cls, file: str, exercises: Mapping[str, ExerciseRecord], possible: Number, *,
               cells: Cells, notes: Iterable[str], provenance: Provenance, status: Status = GRADED,
               message: str = "") -> SubmissionRecord:
        """A submission that ran: its score is the sum of its exercises' (to 4 decimals)."""
        score = round(sum(e.score for e in exercises.values()), 4)
        return cls(file, status, score, possible, dict(exercises), message, cells, tuple(notes), provenance)

    @classmethod
    def not_graded(cls, file: str, status: Status | str, message: str, exercises: Iterable[tuple[str, str, Number]],
                   possible: Number, *, provenance: Provenance, notes: Iterable[str] = (),
                   why: str | None = None) -> SubmissionRecord:
        """A submission that scores 0: every exercise (id, title, points) says ``why`` (default ``message``)."""
        why = message if why is None else why
        zeros = {q: ExerciseRecord.not_graded(q, title, points, why) for q, title, points in exercises}
        return cls(file, status, 0.0, possible, zeros, message, Cells(), tuple(notes), provenance)

    @property
    def scored(self) -> bool:
        """Whether the grader awarded points per exercise (as opposed to 0 for a reason)."""
        return self.status in SCORED_STATUSES

    def with_text(self, convert: Callable[[str], str]) -> SubmissionRecord:
        """The same record with every string field passed through ``convert`` (e.g. made printable)."""
        return _map_text(self, convert)

    def to_dict(self) -> dict:
        return {"schema": self.schema, "file": self.file, "status": str(self.status), "message": self.message,
                "score": self.score, "possible": self.possible,
                "exercises": {q: e.to_dict() for q, e in self.exercises.items()}, "cells": self.cells.to_dict(),
                "notes": list(self.notes), "provenance": self.provenance.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, convert: Convert = None) -> SubmissionRecord:
        """Read (and validate) a record; :class:`RecordError` names the first field that is wrong.

        With ``convert``, the record of ``from_dict(data).with_text(convert)``, built in one pass (every
        string passed through ``convert`` as it is read): how the class report reads thousands of them.
        """
        data = _mapping(data, "record")
        exercises = _mapping(_require(data, "exercises", ""), "exercises")
        notes = tuple(_text(n, f"notes[{i}]", "", convert) for i, n in enumerate(_items(data.get("notes"), "notes")))
        schema = _int(data.get("schema"), "schema")
        return cls(_text(data.get("file"), "file", "", convert), Status.of(_text(data.get("status"), "status", "", convert)),
                   _number(_require(data, "score", ""), "score"), _number(_require(data, "possible", ""), "possible"),
                   {str(q): ExerciseRecord.from_dict(e, f"exercises.{q}", convert) for q, e in exercises.items()},
                   _text(data.get("message"), "message", "", convert), Cells.from_dict(data.get("cells"), "cells", convert),
                   notes, Provenance.from_dict(data.get("provenance"), "provenance", convert),
                   SCHEMA if schema is None else schema)


def _map_text(value: Any, convert: Callable[[str], str]) -> Any:
    """``value`` with every string in it converted; the CPU figures (numbers by name) are left alone."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, tuple):
        return tuple(_map_text(v, convert) for v in value)
    if isinstance(value, Mapping):
        return {k: _map_text(v, convert) for k, v in value.items()}
    if is_dataclass(value):
        return replace(value, **{f.name: _map_text(getattr(value, f.name), convert) for f in fields(value)
                                 if f.name not in ("cpu", "conditions")})
    return value
