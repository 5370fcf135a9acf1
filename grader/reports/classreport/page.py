"""The class report's page: one self-contained HTML document (plots embedded as PNG data URIs,
no script, no network), with its style sheet ``style.css`` shipped as package data.

The page is rendered from the Jinja2 templates in ``templates/`` (:mod:`.templating`), with
autoescaping: every value from a record reaches the page escaped without any call site asking for
it. This module only gathers what the templates show.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup

from grader.reports.classreport.grouping import cell_error_groups
from grader.reports.classreport.model import EPS, SCORED_STATUSES, Submission
from grader.reports.classreport.plots import LABELLED_ROWS, NA
from grader.reports.classreport.stats import ClassSummary, fraction
from grader.reports.classreport.templating import CSS_TEXT, color, render
from grader.rubric.record import GRADED

GROUPS_SHOWN = 8  # failure groups shown per exercise before "more groups"
#: Criteria shown at once in "Criteria, by pass rate" (the least passed); the rest behind "all criteria".
CRITERIA_SHOWN = 10
CSS = CSS_TEXT


@dataclass(frozen=True)
class Problem:
    """A row of "Submissions with problems"."""

    file: str
    status: str
    points: str
    message: str


@dataclass(frozen=True)
class StudentRow:
    """A row of "All submissions": rank (empty when not graded), total and one (background, points) per exercise."""

    rank: str
    file: str
    status: str
    total: str
    cells: list[tuple[str, str]]


def _partly_graded(summary: ClassSummary) -> list[tuple[str, int]]:
    """Statuses other than "graded" whose points were kept (a timeout keeps what was earned before it)."""
    partly = Counter({st: n for st, n in summary.statuses.items() if st != GRADED and st in SCORED_STATUSES})
    partly.update(s.status for s in summary.submissions
                  if s.scored and s.status not in SCORED_STATUSES and s.status != GRADED)
    return sorted(partly.items())


def _problems(summary: ClassSummary) -> list[Problem]:
    rows = []
    for s in sorted(summary.submissions, key=lambda s: (s.status == GRADED, s.status, s.file)):
        cell_issues = [e for e in s.cell_errors if e.type in ("Timeout", "Crash")]
        nothing = s.scored and s.possible > 0 and s.score <= EPS  # blank, or another assignment's notebook
        if s.status == GRADED and not cell_issues and not nothing:
            continue
        message = s.message
        if nothing:
            message += ("\n" if message else "") + ("0 points in every exercise: a blank notebook, another "
                                                     "assignment's, or functions with other names?")
        for err in cell_issues:
            what = "timed out" if err.type == "Timeout" else "crashed"
            message += ("\n" if message else "") + f"cell {err.cell} {what}: {err.message}"
        rows.append(Problem(s.file, s.status, f"{s.score:g}" if s.scored else "not graded", message))
    return rows


def _student_rows(summary: ClassSummary) -> list[StudentRow]:
    subs: Iterable[Submission] = sorted(summary.submissions, key=lambda s: (not s.scored, -s.score, s.file))
    rows = []
    for i, s in enumerate(subs, 1):
        cells = [(color(fraction(s, e)), f"{s.exercises[e.id].score:g}") if s.exercise_graded(e.id) else (NA, "—")
                 for e in summary.exercises]
        rows.append(StudentRow(str(i) if s.scored else "", s.file, s.status, f"{s.score:g}" if s.scored else "—",
                               cells))
    return rows


def render_html(summary: ClassSummary, plots: dict[str, tuple[str, int, int]], title: str = "Class report",
                sections: tuple[Markup | str, ...] = ()) -> str:
    """The page. ``plots``: base64 PNGs by name (:func:`.plots.render_plots`); ``sections``: further sections,
    after the problems, each the :class:`~markupsafe.Markup` of a template (a plain ``str`` is shown as text)."""
    return str(render(
        "page.html.j2", summary=summary, plots=plots, title=title, sections=sections,
        n_files=summary.count + len(summary.unreadable),
        versions=Counter(s.version for s in summary.submissions if s.version).most_common(),
        not_graded=sorted(summary.not_graded.items(), key=lambda kv: (-kv[1], kv[0])),
        partly=_partly_graded(summary), labelled_rows=LABELLED_ROWS, groups_shown=GROUPS_SHOWN,
        criteria=sorted(summary.criteria, key=lambda c: (c.rate, c.order)), criteria_shown=CRITERIA_SHOWN,
        cell_errors=cell_error_groups(summary.submissions), problems=_problems(summary),
        students=_student_rows(summary)))
