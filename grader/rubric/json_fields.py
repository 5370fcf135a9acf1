"""Reading a result record's JSON values, each complaint naming the field (``RecordError.where``).

A results file is read from disk and may be damaged or foreign: every value is checked for its
type as it is read, so a bad file is refused with the field's path (``exercises.q1.score is not a
finite number``), never with a ``KeyError`` from deep inside. Used by :mod:`grader.rubric.record`.
Pure: no I/O.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from grader.core.errors import GraderError

Number = int | float


class RecordError(GraderError, ValueError):
    """A dictionary that is not a complete result record; ``where`` names the field."""

    def __init__(self, where: str, why: str) -> None:
        self.where, self.why = where, why
        super().__init__(f"{where} {why}")


def number(value: Any, where: str) -> Number:
    kind = type(value)
    if kind is float and math.isfinite(value) or kind is int:  # the common case, without isinstance
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(where, "is not a finite number")
    return value


def optional_number(value: Any, where: str) -> Number | None:
    return None if value is None else number(value, where)


def integer(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(where, "is not an integer")
    return value


#: What ``from_dict`` does to each string it reads: nothing, unless a reader asks (see ``SubmissionRecord.from_dict``).
Convert = Callable[[str], str] | None


def text(value: Any, where: str, default: str | None = "", convert: Convert = None) -> str | None:
    if value is None:
        value = default
        if value is None:
            return None
    elif type(value) is not str and not isinstance(value, str):
        raise RecordError(where, "is not text")
    return value if convert is None else convert(value)


def mapping(value: Any, where: str, default: Mapping | None = None) -> Mapping:
    if type(value) is dict:  # JSON's: no abstract-class check needed
        return value
    if value is None and default is not None:
        return default
    if not isinstance(value, Mapping):
        raise RecordError(where, "is not a mapping")
    return value


def items(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise RecordError(where, "is not a list")
    return list(value)


def require(data: Mapping, key: str, where: str) -> Any:
    if key not in data:
        raise RecordError(f"{where}.{key}" if where else key, "is missing")
    return data[key]
