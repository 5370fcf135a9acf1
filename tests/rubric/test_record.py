"""The result record: one typed value, its JSON round trip, and the checks of what it reads."""
from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings, strategies as st

from grader.core.errors import GraderError
from grader.rubric.record import (CellError, Cells, CriterionRecord, ExerciseRecord, Provenance, RecordError, SkippedCell,
                           SubmissionRecord)

text = st.text(max_size=30)
number = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=64))
maybe_text = st.none() | text
maybe_int = st.none() | st.integers(0, 10**4)

criteria = st.builds(CriterionRecord, text, number, number, text, maybe_text)
exercises = st.builds(ExerciseRecord, text, number, number, text, maybe_text,
                      st.lists(criteria, max_size=3).map(tuple))
cell_errors = st.builds(CellError, maybe_int, text, text, maybe_int)
skipped = st.builds(SkippedCell, maybe_int, text)
cells = st.one_of(st.just(Cells()), st.builds(Cells, st.integers(0, 100), st.lists(cell_errors, max_size=3).map(tuple),
                                              st.lists(skipped, max_size=2).map(tuple)))
cpu = st.none() | st.dictionaries(st.sampled_from(["trusted", "child"]),
                                  st.dictionaries(st.sampled_from(["read", "total"]), st.none() | number), max_size=2)
conditions = st.none() | st.fixed_dictionaries({"sandbox": st.sampled_from(["process", "docker"]), "timeout": number,
                                                "memory_mb": st.integers(128, 4096), "image": st.none() | text})
provenances = st.builds(Provenance, maybe_text, maybe_text, st.none() | st.integers(0, 2**32), maybe_text, maybe_text,
                        maybe_text, maybe_text, maybe_text, cpu, st.none() | number, conditions, maybe_text)
records = st.builds(SubmissionRecord, text, st.sampled_from(["graded", "timeout", "error", "invalid-notebook"]),
                    number, number, st.dictionaries(st.sampled_from([f"q{i}" for i in range(1, 11)]), exercises,
                                                    max_size=4),
                    text, cells, st.lists(text, max_size=3).map(tuple), provenances)


@given(records)
@settings(max_examples=200, deadline=None)
def test_every_record_survives_json_unchanged(record):
    data = json.loads(json.dumps(record.to_dict()))
    again = SubmissionRecord.from_dict(data)
    assert again == record
    assert json.dumps(again.to_dict()) == json.dumps(record.to_dict())  # an int stays an int


@given(records)
@settings(max_examples=50, deadline=None)
def test_with_text_reaches_every_string(record):
    marked = record.with_text(lambda s: "<" + s + ">")
    out = json.dumps(marked.to_dict())
    original = record.to_dict()
    for e in original["exercises"].values():
        for c in e["criteria"]:
            assert json.dumps("<" + c["message"] + ">") in out
    assert marked.file == f"<{record.file}>" and marked.score == record.score


def test_a_record_is_frozen():
    record = SubmissionRecord("a.py", "graded", 1, 10.0, {})
    with pytest.raises(FrozenInstanceError):
        record.score = 10  # type: ignore[misc]


def test_error_and_graded_records_have_the_same_fields():
    zero = SubmissionRecord.not_graded("a.py", "error", "it failed", [("q1", "One", 10), ("q2", "Two", 5)], 15.0,
                                       provenance=Provenance(key="k", seconds=None))
    assert zero.to_dict().keys() == SubmissionRecord("a.py", "graded", 0, 15.0, {}).to_dict().keys()
    assert set(zero.to_dict()["provenance"]) >= {"key", "isolation", "seconds", "graded_at"}
    assert zero.exercises["q2"].to_dict() == {"title": "Two", "score": 0.0, "max_score": 5.0,
                                              "feedback": "q2: Two: 0 / 5\nit failed", "criteria": []}
    assert zero.score == 0.0 and not zero.scored


@pytest.mark.parametrize("broken, where", [
    ({"exercises": {"q1": {}}, "score": 0, "possible": 10}, "exercises.q1.score is missing"),
    ({"exercises": {}, "score": "10", "possible": 10}, "score is not a finite number"),
    ({"exercises": {}, "score": float("nan"), "possible": 10}, "score is not a finite number"),
    ({"exercises": {}, "score": True, "possible": 10}, "score is not a finite number"),
    ({"exercises": [], "score": 0, "possible": 10}, "exercises is not a mapping"),
    ({"score": 0, "possible": 10}, "exercises is missing"),
    ({"exercises": {"q1": {"score": 1, "max_score": 2, "criteria": [{"name": "x", "points": 1}]}}, "score": 1,
      "possible": 2}, "exercises.q1.criteria[0].max_points is missing"),
    ({"exercises": {}, "score": 0, "possible": 10, "file": 3}, "file is not text"),
    ({"exercises": {}, "score": 0, "possible": 10, "cells": {"errors": "x"}}, "cells.errors is not a list"),
])
def test_an_incomplete_record_names_the_field(broken, where):
    with pytest.raises(RecordError) as caught:
        SubmissionRecord.from_dict(broken)
    assert caught.value.message == where
    assert isinstance(caught.value, GraderError) and isinstance(caught.value, ValueError)


convert_functions = st.sampled_from([str.upper, lambda s: f"<{s}>", lambda s: s[:3]])


@given(records, convert_functions)
@settings(max_examples=200, deadline=None)
def test_reading_with_a_convert_is_with_text_in_one_pass(record, convert):
    """``from_dict(d, convert)`` (how the class report reads thousands of records) is ``from_dict(d).with_text``."""
    data = json.loads(json.dumps(record.to_dict()))
    assert SubmissionRecord.from_dict(data, convert) == SubmissionRecord.from_dict(data).with_text(convert)


@pytest.mark.parametrize("criterion, where", [
    ({"name": "x", "points": True, "max_points": 1}, "criteria[0].points is not a finite number"),
    ({"name": "x", "points": 1, "max_points": float("inf")}, "criteria[0].max_points is not a finite number"),
    ({"name": 3, "points": 1, "max_points": 1}, "criteria[0].name is not text"),
    ({"points": 1, "max_points": 1}, "criteria[0].name is missing"),
    ({"name": "x", "points": 1, "max_points": 1, "message": ["a"]}, "criteria[0].message is not text"),
    ({"name": "x", "points": 1, "max_points": 1, "kind": 2}, "criteria[0].kind is not text"),
    ("x", "criteria[0] is not a mapping"),
])
def test_a_criterion_off_the_fast_path_is_still_checked_and_named(criterion, where):
    broken = {"exercises": {"q1": {"score": 1, "max_score": 2, "criteria": [criterion]}}, "score": 1, "possible": 2}
    for convert in (None, str.upper):
        with pytest.raises(RecordError) as caught:
            SubmissionRecord.from_dict(broken, convert)
        assert caught.value.message == f"exercises.q1.{where}"


def test_a_criterion_with_no_name_or_message_reads_as_before():
    data = {"exercises": {"q1": {"score": 1, "max_score": 2, "criteria": [
        {"name": None, "points": 1, "max_points": 2, "message": None, "kind": None}]}}, "score": 1, "possible": 2}
    (c,) = SubmissionRecord.from_dict(data).exercises["q1"].criteria
    assert c == CriterionRecord(None, 1, 2, "", None)  # type: ignore[arg-type]
