"""What the similarity report keeps in the output directory, so that it can be recomputed from it alone.

``out/code/<name>.json`` (one per submission, next to ``results/<name>.json``): the submission's
own code per exercise as written (what an instructor is shown) and its canonical statements,
with the content hash of the submission it came from and the version of the canonical form.
``out/similarity.csv``: the pairs worth a look (``out/similarity.json``, the same for the class report).
All are written atomically.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.reports.files import atomic_write
from grader.reports.similarity.normalise import VERSION, ExerciseCode
from grader.core.text import csv_cell, safe_name

CODE_DIR = "code"
CSV_NAME = "similarity.csv"
JSON_NAME = "similarity.json"
CSV_COLUMNS = ("a", "b", "exercise", "score", "shared_failures")
SCHEMA = 1


@dataclass(frozen=True)
class CodeFile:
    """One submission's own code per exercise, as stored in ``out/code/``."""

    file: str
    content_sha256: str
    exercises: Mapping[str, ExerciseCode]
    version: int = VERSION
    note: str = ""  # why there is no code (the submission could not be read)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "version": self.version, "file": self.file, "content_sha256": self.content_sha256,
                "note": self.note, "exercises": {q: c.to_dict() for q, c in self.exercises.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> CodeFile:
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA or not isinstance(data.get("file"), str):
            raise ValueError("not a code file of this grader")
        exercises = data.get("exercises") or {}
        return cls(data["file"], str(data.get("content_sha256", "")),
                   {str(q): ExerciseCode.from_dict(c) for q, c in exercises.items()},
                   int(data.get("version", 0)), str(data.get("note", "")))


def code_path(out_dir: Path, name: str, stem: str | None = None) -> Path:
    """``code/<stem>.json``: the stem of the submission's results file (by default its name's ``safe_name``)."""
    return Path(out_dir) / CODE_DIR / f"{stem or safe_name(name)}.json"


def write_code(out_dir: Path, code: CodeFile, stem: str | None = None) -> None:
    atomic_write(code_path(out_dir, code.file, stem), json.dumps(code.to_dict(), ensure_ascii=False))


def read_code(path: Path) -> CodeFile | None:
    """The code file at ``path``, or None if it is missing or not one of ours."""
    try:
        return CodeFile.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def read_codes(out_dir: Path) -> tuple[dict[str, CodeFile], list[str]]:
    """(file name -> code, names of damaged code files) of ``out_dir/code/``."""
    found: dict[str, CodeFile] = {}
    damaged: list[str] = []
    folder = Path(out_dir) / CODE_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        code = read_code(path)
        if code is None:
            damaged.append(path.name)
        else:
            found[code.file] = code
    return found, damaged


@dataclass(frozen=True)
class Row:
    """One line of ``similarity.csv``: a pair, an exercise (or ``all``), its score and shared rare failures."""

    a: str
    b: str
    exercise: str
    score: float
    shared_failures: int


def write_csv(out_dir: Path, rows: Iterable[Row]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([csv_cell(r.a), csv_cell(r.b), r.exercise, f"{r.score:.3f}", r.shared_failures])
    path = Path(out_dir) / CSV_NAME
    atomic_write(path, buffer.getvalue())
    return path


def write_pairs(out_dir: Path, rows: Iterable[Row], threshold: float) -> None:
    """``out/similarity.json``: the rows of the CSV with the names as they are (the CSV's are made inert for
    spreadsheets), which the class report reads to find each pair's code."""
    data = {"schema": SCHEMA, "threshold": threshold,
            "rows": [[r.a, r.b, r.exercise, round(r.score, 4), r.shared_failures] for r in rows]}
    atomic_write(Path(out_dir) / JSON_NAME, json.dumps(data, ensure_ascii=False))


def read_pairs(out_dir: Path) -> tuple[list[Row], float] | None:
    """(rows, threshold) of ``out/similarity.json``; None when there is none (or it is not ours)."""
    try:
        data = json.loads((Path(out_dir) / JSON_NAME).read_text(encoding="utf-8"))
        rows = [Row(str(a), str(b), str(q), float(score), int(failures))
                for a, b, q, score, failures in data["rows"]]
        return rows, float(data["threshold"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
