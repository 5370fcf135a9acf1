"""Merging shard output directories, and explaining what a regrade changed (no grading needed)."""
from __future__ import annotations

import copy
import csv
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.rubric.exercises import EXERCISES, TOTAL_POINTS
from grader.interfaces.cli import merge_command
from grader.pipeline.merge import merge_shards
from grader.rubric.record import SubmissionRecord
from grader.pipeline.regrade import changed_scores
from grader.reports.files import read_record, safe_name, write_grades_csv, write_submission


def record(name: str, points: dict[str, float] | None = None, *, key: str | None = None, version: str = "0.1.0+aaaa",
           seed: int = 1, content: str = "c0", status: str = "graded", graded_at: str | None = None) -> SubmissionRecord:
    points = points or {}
    exercises = {q: {"title": ex.title, "score": float(points.get(q, ex.points)), "max_score": float(ex.points),
                     "feedback": f"{q}", "criteria": []} for q, ex in EXERCISES.items()}
    provenance = {"key": key or f"key-{name}-{content}-{version}-{seed}", "grader_version": version, "seed": seed,
                  "content_sha256": content, "sandbox": "process", "executor": "local", "seconds": 0.1}
    if graded_at:
        provenance["graded_at"] = graded_at
    return SubmissionRecord.from_dict({"schema": 1, "file": name, "status": status, "message": "",
                                       "score": sum(e["score"] for e in exercises.values()),
                                       "possible": float(TOTAL_POINTS), "exercises": exercises, "cells": {},
                                       "notes": [], "provenance": provenance})


def shard_dir(path: Path, records: list[SubmissionRecord], finished: bool = True) -> Path:
    for r in records:
        write_submission(path, r)
    if finished:
        write_grades_csv(path, records)
    return path


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True)
def report_calls(monkeypatch):
    calls = []
    monkeypatch.setattr("grader.reports.classreport.write_report", lambda out, **_: calls.append(Path(out)) or Path(out))
    return calls


def test_merge_combines_shards_in_file_order(tmp_path, report_calls):
    names = ["b.py", "a.ipynb", "sub/z.py", "sub-x.py", "c.py"]
    recs = [record(n, {"q1": i}) for i, n in enumerate(names)]
    a = shard_dir(tmp_path / "shard-0", recs[0::2])
    b = shard_dir(tmp_path / "shard-1", recs[1::2])
    out = tmp_path / "all"
    path = merge_shards([a, b], out).csv
    assert path == out / "final_grades.csv"
    # the order grade itself writes for one directory: path by path (sub/z.py before sub-x.py)
    assert [r["file"] for r in rows(path)] == ["a.ipynb", "b.py", "c.py", "sub/z.py", "sub-x.py"]
    assert rows(path)[1]["q1"] == "0" and rows(path)[0]["q1"] == "1"
    for n in names:
        stem = safe_name(n)
        assert read_record(out / "results" / f"{stem}.json").file == n
        assert (out / "feedback" / f"{stem}.md").read_text() == \
            ((a if names.index(n) % 2 == 0 else b) / "feedback" / f"{stem}.md").read_text()
    assert report_calls == [out]


def test_identical_duplicates_are_reported_once(tmp_path):
    r = record("a.py")
    a = shard_dir(tmp_path / "s0", [r, record("b.py")])
    b = shard_dir(tmp_path / "s1", [copy.deepcopy(r)])
    merged = merge_shards([a, b], tmp_path / "out")
    assert [x.file for x in merged.records] == ["a.py", "b.py"]
    assert len(merged.duplicates) == 1
    dup = merged.duplicates[0]
    assert dup.file == "a.py" and dup.identical
    assert "same key" in dup.describe()


def test_conflicting_duplicates_keep_the_newest(tmp_path):
    old = record("a.py", {"q1": 0}, content="old", graded_at="2024-01-01T10:00:00+00:00")
    new = record("a.py", {"q1": 10}, content="new", graded_at="2024-01-02T10:00:00+00:00")
    a = shard_dir(tmp_path / "s0", [new])
    b = shard_dir(tmp_path / "s1", [old])
    merged = merge_shards([b, a], tmp_path / "out")
    assert merged.records[0].provenance.content_sha256 == "new"
    assert merged.duplicates[0].kept == a and not merged.duplicates[0].identical
    assert "kept the newest" in merged.duplicates[0].describe()


def test_without_graded_at_the_newest_file_wins(tmp_path):
    a = shard_dir(tmp_path / "s0", [record("a.py", {"q1": 1}, content="x")])
    b = shard_dir(tmp_path / "s1", [record("a.py", {"q1": 2}, content="y")])
    past = time.time() - 3600
    os.utime(a / "results" / "a.json", (past, past))
    merged = merge_shards([b, a], tmp_path / "out")
    assert merged.records[0].exercises["q1"].score == 2


def test_unfinished_shard_and_missing_submissions_are_reported(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for n in ("a.py", "b.py", "c.py"):
        (subs / n).write_text("")
    a = shard_dir(tmp_path / "shard-0", [record("a.py")])
    b = shard_dir(tmp_path / "shard-1", [record("b.py")], finished=False)
    result = CliRunner().invoke(merge_command, [str(a), str(b), "--out", str(tmp_path / "all"),
                                                "--submissions", str(subs)])
    assert result.exit_code == 1, result.output
    assert "shard-1 has no final_grades.csv" in result.output
    assert "1 submission(s) have no result" in result.output and "c.py" in result.output
    # what was there is merged all the same
    assert [r["file"] for r in rows(tmp_path / "all" / "final_grades.csv")] == ["a.py", "b.py"]


def test_merge_command_reports_duplicates_and_succeeds(tmp_path):
    r = record("a.py")
    a = shard_dir(tmp_path / "s0", [r])
    b = shard_dir(tmp_path / "s1", [r])
    result = CliRunner().invoke(merge_command, [str(a), str(b), "--out", str(tmp_path / "all")])
    assert result.exit_code == 0, result.output
    assert "Duplicate: a.py" in result.output and "Merged 1 submission(s) from 2 directories" in result.output


def test_output_directory_may_be_an_input_and_merging_twice_is_stable(tmp_path):
    a = shard_dir(tmp_path / "s0", [record("a.py")])
    b = shard_dir(tmp_path / "s1", [record("b.py")])
    out = tmp_path / "all"
    first = merge_shards([a, b], out).csv.read_bytes()
    merged = merge_shards([a, b, out], out)
    assert (out / "final_grades.csv").read_bytes() == first
    assert all(d.identical for d in merged.duplicates)


def test_not_an_output_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(merge_command, [str(tmp_path / "empty"), "--out", str(tmp_path / "all")])
    assert result.exit_code == 1 and "has no results/ directory" in result.output


def test_damaged_result_is_skipped_with_a_warning(tmp_path):
    a = shard_dir(tmp_path / "s0", [record("a.py")])
    (a / "results" / "junk.json").write_text("{not json")
    merged = merge_shards([a], tmp_path / "all")
    assert [r.file for r in merged.records] == ["a.py"]
    assert any("junk.json is not a grader result" in w for w in merged.warnings)


def test_mixed_grader_versions_warn(tmp_path):
    a = shard_dir(tmp_path / "s0", [record("a.py", version="0.1.0+aaaa")])
    b = shard_dir(tmp_path / "s1", [record("b.py", version="0.1.0+bbbb")])
    merged = merge_shards([a, b], tmp_path / "all")
    assert any("2 grader versions" in w for w in merged.warnings)


# -- changed_scores --------------------------------------------------------------------------------
def test_no_change_no_lines():
    assert changed_scores(record("a.py"), record("a.py")) == []


def test_content_change_is_explained_once_for_the_submission():
    old = record("a.py", {"q3": 0, "q5": 2, "q7": 1}, content="aaaaaaaaaaaaaaaa")
    new = record("a.py", {"q3": 8, "q5": 2, "q7": 3}, content="bbbbbbbbbbbbbbbb")
    lines = changed_scores(old, new)
    assert lines[0].startswith(f"total: {old.score:g} -> {new.score:g}")
    assert "content changed (aaaaaaaaaaaa -> bbbbbbbbbbbb)" in lines[0] and "grader version" not in lines[0]
    assert lines[1:] == ["q3: Affine collapse: 0 -> 8 / 8", f"q7: {new.exercises['q7'].title}: 1 -> 3 / {new.exercises['q7'].max_score:g}"]


def test_grader_version_and_seed_changes_are_named():
    old = record("a.py", {"q10": 14}, version="0.1.0+aaaa", seed=1)
    new = record("a.py", {"q10": 7}, version="0.1.0+bbbb", seed=2)
    line = changed_scores(old, new)[0]
    assert "grader version changed (0.1.0+aaaa -> 0.1.0+bbbb)" in line
    assert "seed) changed (1 -> 2)" in line


def test_unexplained_change_and_status():
    old = record("a.py", {"q1": 10})
    new = record("a.py", {"q1": 4}, status="timeout")
    lines = changed_scores(old, new)
    assert "same content, grader version, seed, sandbox and limits" in lines[0]
    assert any(x.startswith("q1:") for x in lines) and "status: graded -> timeout" in lines


def test_changed_scores_reads_result_files(tmp_path):
    write_submission(tmp_path, record("a.py", {"q2": 3}, content="x"))
    old = read_record(tmp_path / "results" / "a.json")
    lines = changed_scores(old, record("a.py", {"q2": 10}, content="y"))
    assert any(line.startswith("q2:") for line in lines)
    json.dumps(lines)


def test_merge_reads_each_result_once_for_itself_and_the_class_report(tmp_path):
    """A record whose text a report must escape is kept as written for the merge (its CSV, its feedback) and
    made printable for the report; a clean one is read once and shared."""
    from dataclasses import replace

    from grader.reports.classreport.model import Submission
    from grader.pipeline.merge import _read_twice
    from grader.reports.files import load_record

    clean = record("a.py")
    odd = replace(record("b.py"), message="bell\x07 and \u202e reversed", notes=("tab\tnote",))
    shard_dir(tmp_path / "s", [clean, odd])
    for r in (clean, odd):
        path = tmp_path / "s" / "results" / f"{safe_name(r.file)}.json"
        kept, shown = _read_twice(path)
        assert kept == load_record(path) == r
        assert shown == Submission.of(load_record(path))
    kept, shown = _read_twice(tmp_path / "s" / "results" / "a.json")
    assert shown.record is kept
    kept, shown = _read_twice(tmp_path / "s" / "results" / "b.json")
    assert kept.message == odd.message and shown.message == "bell\\x07 and \\u202e reversed"
    assert shown.record.notes == ("tab    note",)
