"""Writing what a grading run produced: per-submission files and the class table.

Everything here reads only the grader's own result records, never a file a
submission wrote.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from grader.core.errors import GraderError
from grader.rubric.exercises import EXERCISES
from grader.rubric.record import ERROR, RecordError, SubmissionRecord
from grader.core.text import (Code, Markdown, Strong, csv_cell, file_name, identifier, one_line, plain,
                              safe_name)

CSV_COLUMNS = ["file", *EXERCISES, "total", "possible", "status"]


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide grades from the course staff's group
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


OUTPUT_LIMIT = 50_000  # characters of one test's output: far above any real feedback


def gradescope_results(record: SubmissionRecord) -> dict:
    """The record in Gradescope's results.json schema; the full record rides in ``extra_data``.

    Every output is declared ``text`` (Gradescope shows it as it is, rendering neither HTML nor
    Markdown), and holds only printable text: what a submission wrote cannot become markup there.
    """
    tests = []
    for q, ex in record.exercises.items():
        passed = ex.score >= ex.max_score
        tests.append({"name": one_line(f"{q}: {ex.title}"), "name_format": "text", "number": q,
                      "score": ex.score, "max_score": ex.max_score, "status": "passed" if passed else "failed",
                      "output": plain(ex.feedback, OUTPUT_LIMIT), "output_format": "text",
                      "visibility": "visible"})
    return {"score": record.score, "execution_time": record.provenance.seconds,
            "output": plain(_summary(record), OUTPUT_LIMIT), "output_format": "text", "test_output_format": "text",
            "test_name_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": record.to_dict()}


def _summary(record: SubmissionRecord) -> str:
    text = f"{file_name(record.file)}: {record.score:g} / {record.possible:g} ({_word(record.status)})"
    return "\n".join([text, *notebook_problems(record)])


def _word(value: Any) -> str:
    """A status (ours: "graded", "invalid-notebook" ...) as letters, digits and hyphens only."""
    return re.sub(r"[^A-Za-z0-9_-]", "", one_line(value, 40)) or "unknown"


def notebook_problems(record: SubmissionRecord) -> list[str]:
    """What went wrong with the notebook as a whole, one plain-text entry each.

    The record's message, its notes, every cell that raised (with the exception's class and
    message as the submission reported them), every cell skipped because it hung or crashed,
    and every exercise the grader stopped because a function hung or crashed the process.
    A message of several lines continues on lines indented by four spaces.
    """
    def entry(text: str) -> str:
        return "\n    ".join(plain(text, OUTPUT_LIMIT).split("\n"))

    out = []
    if record.message:
        out.append(entry(record.message))
    for note in record.notes:
        out.append(entry(f"Note: {plain(note)}"))
    for err in record.cells.errors:
        where = f"cell {err.cell}" + (f", line {err.line}" if err.line is not None else "")
        out.append(entry(f"{where} raised {identifier(err.type)}: {plain(err.message)}"))
    for skipped in record.cells.skipped:
        out.append(entry(f"cell {skipped.cell} was skipped on a second run: it {plain(skipped.why)}."))
    for q, ex in record.exercises.items():
        if ex.note:  # each function that hung or crashed the process, one line each
            out.extend(entry(f"{one_line(q, 10)}: {line}") for line in plain(ex.note).split("\n") if line)
    return out


def feedback_markdown(record: SubmissionRecord) -> str:
    """What the student reads: the total, notebook problems, then each exercise.

    Written through :class:`~grader.core.text.Markdown`, so text the submission controls (its file name, what
    its exceptions said) appears only as code: the name as an inline code span, everything else in fenced
    blocks whose fence is longer than any run of backticks inside. Markdown, HTML, links and images in it are
    shown, never rendered.
    """
    if record.status == ERROR:
        return _not_graded_feedback(record)
    md = Markdown().heading(1, "Feedback for ", Code(file_name(record.file))).blank()
    md.paragraph(Strong(f"Total: {record.score:g} / {record.possible:g}"), f"  (status: {_word(record.status)})")
    md.blank()
    problems = notebook_problems(record)
    if problems:
        md.code_block("\n".join(problems), limit=OUTPUT_LIMIT).blank()
    md.table(["exercise", "points"], [[f"{q}: {ex.title}", f"{ex.score:g} / {ex.max_score:g}"]
                                      for q, ex in record.exercises.items()]).blank()
    for q, ex in record.exercises.items():
        md.heading(2, f"{q}: {ex.title} ({ex.score:g} / {ex.max_score:g})").blank()
        if not ex.criteria:
            md.code_block(ex.feedback, limit=OUTPUT_LIMIT).blank()
            continue
        for c in ex.criteria:
            mark = "✅" if c.points == c.max_points else "❌"
            md.bullet(f"{mark} {c.name} ({c.points:g} / {c.max_points:g})")
            if c.message:
                md.blank().code_block(c.message, indent="  ", limit=OUTPUT_LIMIT)
        md.blank()
    return md.text()


def _not_graded_feedback(record: SubmissionRecord) -> str:
    """Feedback for a submission the grader failed on: no points that could pass for the student's, and
    nothing for the student to do (the instructor has the cause, in the results file and the run's summary)."""
    md = Markdown().heading(1, "Feedback for ", Code(file_name(record.file))).blank()
    md.paragraph(Strong("Not graded"), f"  (status: {_word(record.status)})").blank()
    return md.code_block(plain(record.message, OUTPUT_LIMIT), limit=OUTPUT_LIMIT).blank().text()


def write_submission(out_dir: Path, record: SubmissionRecord, stem: str | None = None) -> None:
    """``feedback/<stem>.md``, then ``results/<stem>.json``: a result on disk (what a rerun reuses) always has
    its feedback, even when the disk fills up between the two. The stem is the run's
    (``grader.pipeline.submissions.output_stems``), by default the name's own ``safe_name``."""
    stem = stem or safe_name(record.file)
    atomic_write(out_dir / "feedback" / f"{stem}.md", feedback_markdown(record))
    atomic_write(out_dir / "results" / f"{stem}.json", json.dumps(gradescope_results(record), indent=1))


class NotARecord(GraderError):
    """A results file that holds no record of this grader; ``why`` says what is wrong with it."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(f"{path}: {why}")


FOREIGN = "not a results file written by this grader (unreadable, damaged or foreign JSON)"


def record_json(path: Path) -> dict:
    """The JSON form of the grader's record in a results file (its ``extra_data``), not yet validated;
    :class:`NotARecord` if the file is missing or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        record = data["extra_data"]
    except (OSError, ValueError, KeyError, TypeError):
        raise NotARecord(path, FOREIGN) from None
    if not isinstance(record, dict) or "exercises" not in record:
        raise NotARecord(path, FOREIGN)
    return record


def record_from_json(path: Path, record: dict, convert: Callable[[str], str] | None = None) -> SubmissionRecord:
    """:meth:`SubmissionRecord.from_dict` of what :func:`record_json` read; :class:`NotARecord` if incomplete."""
    try:
        return SubmissionRecord.from_dict(record, convert)
    except RecordError as exc:
        raise NotARecord(path, f"an incomplete grader record ({exc})") from None


def load_record(path: Path, convert: Callable[[str], str] | None = None) -> SubmissionRecord:
    """The grader's record from a results file; :class:`NotARecord` if it is missing, not ours or incomplete.

    With ``convert``, the record of ``load_record(path).with_text(convert)``, built in one pass (a class
    report reads thousands).
    """
    return record_from_json(path, record_json(path), convert)


def read_record(path: Path) -> SubmissionRecord | None:
    """The grader's record from a results file, or None if it is missing, not ours or incomplete."""
    try:
        return load_record(path)
    except NotARecord:
        return None


def _number(value: Any) -> int | float:
    """A score as a CSV number: as ``:g`` shows it, an int when it is whole."""
    x = float(f"{float(value):g}")
    return int(x) if x.is_integer() else x


def csv_row(record: SubmissionRecord) -> dict[str, Any]:
    """One row of final_grades.csv: scores as numbers, text neutralised for spreadsheets. A submission the
    grader failed on (status ``error``) has empty score cells: it has no score, and 0 would pass for one."""
    row: dict[str, Any] = {"file": csv_cell(file_name(record.file))}
    scored = record.status != ERROR
    for q in EXERCISES:
        row[q] = _number(record.exercises[q].score if q in record.exercises else 0.0) if scored else ""
    row.update(total=_number(record.score) if scored else "", possible=_number(record.possible),
               status=csv_cell(_word(record.status)))
    return row


def write_grades_csv(out_dir: Path, records: Iterable[SubmissionRecord]) -> Path:
    return write_grades_rows(out_dir, [tuple(row[c] for c in CSV_COLUMNS) for row in map(csv_row, records)])


def write_grades_rows(out_dir: Path, rows: Iterable[tuple]) -> Path:
    """``final_grades.csv`` from rows of :func:`csv_row`'s values in ``CSV_COLUMNS`` order (a batch keeps only those)."""
    path = out_dir / "final_grades.csv"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    atomic_write(path, buf.getvalue())
    return path


def terminal_table(record: SubmissionRecord):
    """A rich table of the ten exercises, for grading one notebook.

    Every cell is a ``rich.text.Text`` built from plain text: a name or message holding Rich
    markup (``[/bold]``, ``[link=...]``) is shown as written, never parsed.
    """
    from rich.table import Table
    from rich.text import Text

    title = f"{file_name(record.file)}: {record.score:g} / {record.possible:g} ({_word(record.status)})"
    table = Table(title=Text(title))
    table.add_column("exercise")
    table.add_column("points", justify="right")
    table.add_column("first problem")
    for q, ex in record.exercises.items():
        failed = [c for c in ex.criteria if c.points < c.max_points]
        if failed:
            first = failed[0].message
        else:
            first = "" if ex.criteria else (ex.feedback.splitlines() or [""])[-1]
        first = one_line((plain(first).split("\n") or [""])[0], 110)
        style = "green" if ex.score == ex.max_score else ("red" if ex.score == 0 else "yellow")
        points = Text(f"{ex.score:g} / {ex.max_score:g}", style=style)
        table.add_row(Text(one_line(f"{q}: {ex.title}")), points, Text(first))
    return table
