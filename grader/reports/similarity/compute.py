"""Putting the parts together: the rows of ``similarity.csv`` from the output directory alone."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.rubric.record import SubmissionRecord
from grader.reports.files import NotARecord, load_record
from grader.reports.similarity.failures import shared_failures, signatures
from grader.reports.similarity.index import grams, score_pairs, stable_hash
from grader.reports.similarity.normalise import VERSION, ExerciseCode, exercise_code
from grader.reports.similarity.starter import NAMES, REFERENCE, solution_cells, starter_code, student_cells
from grader.reports.similarity.store import CodeFile, Row, read_codes, write_csv, write_pairs

#: A pair (per exercise, or over all) is listed from this score on. Copies in the calibration class
#: (tests/similarity/) score 0.82 and more over all, independent solutions 0.16 at most (docs/similarity.md).
THRESHOLD = 0.5
#: ... or when it shares this many rare failures (the same criteria failed the same way).
MIN_SHARED_FAILURES = 2

def generated_starter(master: Mapping) -> str:
    """The generated part of :mod:`grader.reports.similarity.starter` for the master notebook ``master`` (its JSON)."""
    cells = student_cells(master)
    reference = exercise_code(solution_cells(master), NAMES)
    hashes = sorted({stable_hash(g) for code in reference.values() for g in grams(code)})
    lines = ["# generated: do not edit by hand (see the module docstring)", "CELLS: tuple[str, ...] = ("]
    lines += [f"    {c!r}," for c in cells] + [")", "REFERENCE: frozenset[int] = frozenset({"]
    lines += [f"    {', '.join(str(h) for h in hashes[k:k + 4])}," for k in range(0, len(hashes), 4)] + ["})", ""]
    return "\n".join(lines)


def code_file(name: str, content_sha256: str, cells: Sequence[str]) -> CodeFile:
    """A submission's code file, from its code cells."""
    return CodeFile(name, content_sha256, exercise_code(cells, NAMES))


def _current(code: CodeFile) -> Mapping[str, ExerciseCode]:
    """A code file's exercises in the current canonical form (recomputed from the stored code if older)."""
    if code.version == VERSION:
        return code.exercises
    out = {}
    for q, stored in code.exercises.items():
        again = exercise_code([stored.code], NAMES, only=[q]) if q in NAMES else {}
        if q in again:
            out[q] = again[q]
    return out


@dataclass
class Similarity:
    """What one computation found: the rows of ``similarity.csv`` and what it could not read."""

    rows: list[Row] = field(default_factory=list)
    submissions: int = 0
    missing_code: list[str] = field(default_factory=list)  # graded, but no code file
    damaged: list[str] = field(default_factory=list)


def compute(codes: Mapping[str, CodeFile], records: Mapping[str, SubmissionRecord], *,
            threshold: float = THRESHOLD, min_shared_failures: int = MIN_SHARED_FAILURES) -> list[Row]:
    """The rows worth a look, best first: every pair and exercise (or ``all``) at or above ``threshold``,
    or sharing at least ``min_shared_failures`` rare failures."""
    names = sorted(set(codes) | set(records))
    docs = [_current(codes[n]) if n in codes else {} for n in names]
    scores = score_pairs(docs, NAMES, starter=starter_code(), reference=REFERENCE)
    failed = shared_failures([signatures(records[n]) if n in records else {} for n in names])
    rows: list[Row] = []
    listed: set[tuple[int, int]] = set()
    for k in range(len(scores)):
        i, j = int(scores.a[k]), int(scores.b[k])
        shared = failed.get((i, j), {})
        overall, total = float(scores.overall[k]), sum(shared.values())
        if overall >= threshold or total >= min_shared_failures:
            rows.append(Row(names[i], names[j], "all", overall, total))
        for q in scores.exercises:
            value = float(scores.per_exercise[q][k])
            if value == value and (value >= threshold or shared.get(q, 0) >= min_shared_failures):
                rows.append(Row(names[i], names[j], q, value, shared.get(q, 0)))
        listed.add((i, j))
    for (i, j), shared in failed.items():  # the same failures, without similar code
        if (i, j) in listed or sum(shared.values()) < min_shared_failures:
            continue
        rows.append(Row(names[i], names[j], "all", 0.0, sum(shared.values())))
        rows.extend(Row(names[i], names[j], q, 0.0, n) for q, n in shared.items() if n >= min_shared_failures)
    order = {q: i for i, q in enumerate(["all", *NAMES])}
    rows.sort(key=lambda r: (-round(r.score, 3), -r.shared_failures, order.get(r.exercise, 99), r.a, r.b))
    return rows


def read_records(out_dir: Path) -> dict[str, SubmissionRecord]:
    """The records of ``out_dir/results`` by file name (a file that is not a record is left out)."""
    out = {}
    folder = Path(out_dir) / "results"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = load_record(path)
        except NotARecord:
            continue
        out[record.file] = record
    return out


def write_similarity(out_dir: Path) -> Similarity:
    """Compute the pairs from ``out_dir`` alone (``code/``, ``results/``) and write ``similarity.csv``
    (and ``similarity.json``, the same rows for the class report)."""
    codes, damaged = read_codes(out_dir)
    records = read_records(out_dir)
    rows = compute(codes, records)
    write_csv(out_dir, rows)
    write_pairs(out_dir, rows, THRESHOLD)
    missing = sorted(f for f, r in records.items() if r.scored and f not in codes)
    return Similarity(rows, len(set(codes) | set(records)), missing, damaged)


__all__ = ["MIN_SHARED_FAILURES", "NAMES", "THRESHOLD", "CodeFile", "Row", "Similarity", "code_file", "compute",
           "read_records", "write_similarity"]
