"""Reading ``results/`` into the class report's model: each record validated, its text made printable.

Only the grader's own records count (read and validated by :func:`grader.reports.files.load_record`); a
file that is not one, or a record that is incomplete, is listed as unreadable and left out of
every number. A :class:`Submission` is a view of one :class:`~grader.rubric.record.SubmissionRecord`
whose every string was made printable (:func:`grader.core.text.plain`): the records are ours, but the
page must not trust a file. Escaping is the page's business (:mod:`.page`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.rubric.record import SCORED_STATUSES, CellError, ExerciseRecord, SubmissionRecord
from grader.reports.files import FOREIGN, NotARecord, load_record
from grader.core.text import plain

EPS = 1e-9
TEXT_LIMIT = 20_000


def printable(text: str) -> str:
    """``plain(text, TEXT_LIMIT)``, with a fast path for text that ``plain`` leaves as it is: short
    enough, and printable but for its line breaks (every character ``plain`` escapes is one that
    ``str.isprintable`` refuses). Nearly every string of a record the grader wrote is such text."""
    if len(text) <= TEXT_LIMIT and text.replace("\n", " ").isprintable():
        return text
    return plain(text, TEXT_LIMIT)


@dataclass(frozen=True)
class Submission:
    """One submission as the class report reads it: a record, every string printable."""

    record: SubmissionRecord

    @classmethod
    def of(cls, record: SubmissionRecord) -> Submission:
        return cls(record.with_text(printable))

    @property
    def file(self) -> str:
        return self.record.file or "(no name)"

    @property
    def status(self) -> str:
        return self.record.status or "unknown"

    @property
    def message(self) -> str:
        return self.record.message

    @property
    def score(self) -> float:
        return self.record.score

    @property
    def possible(self) -> float:
        return self.record.possible

    @property
    def exercises(self) -> Mapping[str, ExerciseRecord]:
        return self.record.exercises

    @property
    def cell_errors(self) -> tuple[CellError, ...]:
        return self.record.cells.errors

    @property
    def version(self) -> str:
        return self.record.provenance.grader_version or ""

    @property
    def scored(self) -> bool:
        """Points per exercise were awarded: status ``graded`` or ``timeout``, or criteria were run."""
        return self.status in SCORED_STATUSES or any(e.criteria for e in self.record.exercises.values())

    def exercise_graded(self, q: str) -> bool:
        return self.scored and q in self.record.exercises


def load_results(out_dir: Path, known: Mapping[str, Submission] | None = None
                 ) -> tuple[list[Submission], list[tuple[str, str]]]:
    """(submissions, unreadable) from ``out_dir/results/*.json``; unreadable is (file name, why).

    A file named in ``known`` is not read: its submission is taken from there (see ``write_report``).
    """

    subs: list[Submission] = []
    unreadable: list[tuple[str, str]] = []
    results = Path(out_dir) / "results"
    paths = sorted(results.glob("*.json")) if results.is_dir() else []
    for path in paths:
        if known and path.name in known:
            subs.append(known[path.name])
            continue
        try:  # Submission.of(load_record(path)), in one pass
            subs.append(Submission(load_record(path, printable)))
        except NotARecord as exc:
            unreadable.append((path.name, exc.why))
    subs.sort(key=lambda s: s.file)
    return subs, unreadable


__all__ = ["EPS", "FOREIGN", "SCORED_STATUSES", "Submission", "load_results"]
