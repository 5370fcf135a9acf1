"""The class report: what the class got wrong, at a glance.

``write_report(out_dir)`` reads only ``out_dir/results/*.json`` (the grader's own
records, through :func:`grader.reports.files.load_record`), never a file a submission
wrote and never ``feedback/*.md``, and writes

- ``report.html``: one self-contained page (plots embedded as PNG data URIs, no
  script, no network) with the score distribution, per-exercise numbers, a
  students x exercises heatmap, the most common failures per exercise (grouped
  by root cause: the known mistake, else the first check that failed, and one
  "not attempted" group; see :mod:`.grouping`), every criterion's pass rate, the
  submissions with problems, and the results files that could not be read;
- ``summary.csv``: the per-exercise numbers.

With ``similarity.json`` beside ``results/`` (``activation-grader grade`` and ``similarity`` write it), the
page has a section on similar code (:mod:`.similarity`).

Vocabulary used throughout. A submission is *scored* when the grader ran it and
awarded points per exercise (status ``graded``, or ``timeout``, which keeps the
points earned before the submission ran out of time); otherwise (``invalid-notebook``,
``unreadable``, ``too-large``, ``error`` ...) it is *not graded* and is left out
of every mean, median, count of full/partial/zero, plot and failure group. An
exercise worth 0 points has no fraction and is left out of the plots.

The page is rendered from Jinja2 templates with autoescaping (:mod:`.templating`): every string
from a record reaches it escaped; ``$`` is escaped before it reaches matplotlib (mathtext).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from grader.reports.classreport.grouping import (FailureGroup, cell_error_groups, failure_groups, first_statement,
                                         hint_of, normalise_message, not_attempted)
from grader.reports.classreport.model import EPS, FOREIGN, SCORED_STATUSES, Submission, load_results
from grader.reports.classreport.page import CSS, GROUPS_SHOWN, render_html
from grader.reports.classreport.plots import render_plots
from grader.reports.classreport.similarity import similarity_section
from grader.reports.classreport.stats import SUMMARY_COLUMNS, ClassSummary, ExerciseStats, summarise, write_summary_csv
from grader.reports.files import atomic_write
from grader.reports.similarity.starter import starter_keys

__all__ = ["CSS", "EPS", "FOREIGN", "GROUPS_SHOWN", "SCORED_STATUSES", "SUMMARY_COLUMNS", "ClassSummary",
           "ExerciseStats", "FailureGroup", "Submission", "cell_error_groups", "failure_groups",
           "first_statement", "hint_of", "load_results", "normalise_message", "not_attempted", "render_html",
           "render_plots", "summarise", "write_report", "write_summary_csv"]


def write_report(out_dir: Path, known: Mapping[str, Submission] | None = None) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/summary.csv`` from ``out_dir/results``; return the page's path.

    ``known``: results files (by name) the caller has just read or written, as :meth:`Submission.of` of
    each file's record; they are not read again (``merge`` copies thousands, then reports on them).
    """

    out_dir = Path(out_dir)
    subs, unreadable = load_results(out_dir, known)
    summary = summarise(subs, unreadable)
    plots = render_plots(summary)
    path = out_dir / "report.html"
    atomic_write(path, render_html(summary, plots, sections=(similarity_section(out_dir, starter_keys()),)))
    write_summary_csv(out_dir / "summary.csv", summary)
    return path
