"""The class report's section on similar code: the pairs worth a look, both codes side by side.

Read from the output directory alone: ``similarity.json`` (the rows of ``similarity.csv``, names
as they are) and each pair's ``code/<name>.json``. The statements two submissions share (in the
canonical form of :mod:`grader.reports.similarity.normalise`, the starter code's left out) are highlighted
in both. Every string is the students': the template escapes it (autoescape).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from grader.reports.similarity.normalise import ExerciseCode
from grader.reports.classreport.templating import render
from grader.reports.similarity.store import Row, code_path, read_code, read_pairs

PAIRS_SHOWN = 12  # pairs of code side by side (the best per-exercise rows)
TABLE_ROWS = 30  # rows of the overall table


def _code(out_dir: Path, name: str, exercise: str) -> ExerciseCode | None:
    """The code of ``name``: at its name's stem, or at ``<stem>-2``, ``-3`` ... where two names share a stem
    (``grader.pipeline.submissions.output_stems``)."""
    base = code_path(out_dir, name)
    for path in (base, *sorted(base.parent.glob(f"{base.stem}-*.json"))):
        code = read_code(path)
        if code is not None and code.file == name:
            return code.exercises.get(exercise)
    return None


def _marked(code: ExerciseCode, shared: set[str]) -> list[tuple[str, bool]]:
    """The code's lines, each with whether it belongs to a shared statement (shown in ``<mark class="shared">``)."""
    hit = set()
    for unit in code.units:
        for s in unit:
            if s.first > 0 and s.key in shared:
                hit.update(range(s.first, s.last + 1))
    return [(line, i in hit) for i, line in enumerate(code.code.split("\n"), 1)]


def _keys(code: ExerciseCode) -> set[str]:
    return {s.key for unit in code.units for s in unit if s.first > 0}


@dataclass(frozen=True)
class Pair:
    """One pair shown side by side; ``a``/``b``: the lines of each code (None when a code is missing)."""

    row: Row
    a: list[tuple[str, bool]] | None
    b: list[tuple[str, bool]] | None


def _pair(out_dir: Path, row: Row, starter: set[str]) -> Pair:
    a, b = _code(out_dir, row.a, row.exercise), _code(out_dir, row.b, row.exercise)
    if a is None or b is None:
        return Pair(row, None, None)
    shared = (_keys(a) & _keys(b)) - starter
    return Pair(row, _marked(a, shared), _marked(b, shared))


def similarity_section(out_dir: Path, starter: set[str] | None = None) -> Markup:
    """The section, rendered from ``templates/similarity.html.j2``; empty when the similarity was not computed
    (no ``similarity.json``).

    ``starter``: canonical statements of the starter code, never highlighted."""
    found = read_pairs(out_dir)
    if found is None:
        return Markup("")
    rows, threshold = found
    shown = [r for r in rows if r.exercise != "all"][:PAIRS_SHOWN]
    return render("similarity.html.j2", rows=rows, threshold=threshold,
                  overall=[r for r in rows if r.exercise == "all"][:TABLE_ROWS],
                  pairs=[_pair(out_dir, r, starter or set()) for r in shown])
