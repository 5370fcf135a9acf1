"""The class report's page: one self-contained HTML document (plots embedded as PNG data URIs,
no script, no network), with its style sheet ``style.css`` shipped as package data.

Every string from a record is escaped with :func:`html.escape` (through :func:`_e`) before it
reaches the page.
"""
from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from importlib.resources import files
from typing import Any

from grader.reports.classreport.grouping import CHECK, MISTAKE, FailureGroup, cell_error_groups
from grader.reports.classreport.model import EPS, SCORED_STATUSES
from grader.reports.classreport.plots import LABELLED_ROWS, NA
from grader.reports.classreport.stats import ClassSummary, _fraction

GROUPS_SHOWN = 8  # failure groups shown per exercise before "more groups"
CSS = "\n" + files("grader.reports.classreport").joinpath("style.css").read_text(encoding="utf-8")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(q: str) -> str:
    return "fail-" + (re.sub(r"[^A-Za-z0-9_-]", "_", q) or "x")


def _figure_html(name: str, png: tuple[str, int, int], alt: str, caption: str) -> str:
    data, w, h = png
    return (f'<figure style="width:{w}px"><img id="{name}" src="data:image/png;base64,{data}" width="{w}" '
            f'height="{h}" alt="{_e(alt)}"><figcaption>{caption}</figcaption></figure>')


def _pct(f: float | None) -> str:
    return "—" if f is None else f"{100 * f:.0f}%"


def _color(f: float | None) -> str:
    """Background of a score cell: red (0) through yellow to green (full), grey when not graded."""
    if f is None:
        return NA
    stops = [(0.0, (0xf4, 0xa5, 0x82)), (0.5, (0xff, 0xf2, 0xb3)), (1.0, (0xa6, 0xdb, 0xa0))]
    for (f0, c0), (f1, c1) in itertools.pairwise(stops):
        if f <= f1:
            t = (f - f0) / (f1 - f0)
            return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(c0, c1))
    return "#a6dba0"


def _stat_cards(summary: ClassSummary) -> str:
    def card(key: str, value: str, label: str, extra: str = "", cls: str = "card") -> str:
        return (f'<div class="{cls}" data-stat="{key}"><div class="v">{value}</div>'
                f'<div class="k">{label}</div>{extra}</div>')

    cards = [card("count", str(summary.count), "submissions"),
             card("graded", str(summary.scored), "graded")]
    if summary.scored:
        cards += [card("mean", f"{summary.mean:.1f}", f"mean (of {summary.possible:g})"),
                  card("median", f"{summary.median:.1f}", f"median (of {summary.possible:g})"),
                  card("full-marks", str(summary.full_marks), "full marks")]
    if summary.not_graded:
        items = "".join(f'<li data-status="{_e(st)}">{_e(st)}: {n}</li>'
                        for st, n in sorted(summary.not_graded.items(), key=lambda kv: (-kv[1], kv[0])))
        cards.append(card("not-graded", str(sum(summary.not_graded.values())), "not graded, by status",
                          f"<ul>{items}</ul>", "card warn"))
    partly = Counter({st: n for st, n in summary.statuses.items() if st != "graded" and st in SCORED_STATUSES})
    partly.update(s.status for s in summary.submissions
                  if s.scored and s.status not in SCORED_STATUSES and s.status != "graded")
    if partly:
        items = "".join(f'<li data-status="{_e(st)}">{_e(st)}: {n}</li>' for st, n in sorted(partly.items()))
        cards.append(card("partly-graded", str(sum(partly.values())), "graded in part (points kept)",
                          f"<ul>{items}</ul>", "card warn"))
    if summary.unreadable:
        cards.append(card("unreadable", str(len(summary.unreadable)), "results files unreadable", "", "card warn"))
    return f'<div class="cards">{"".join(cards)}</div>'


def _exercise_table(summary: ClassSummary) -> str:
    rows = []
    for e in summary.exercises:
        groups = summary.groups.get(e.id, [])
        top = (f'<a href="#{_anchor(e.id)}" title="{_e(groups[0].pattern)}">{_e(_short(_label(groups[0])))}</a> '
               f'<span class="muted">({groups[0].count})</span>') if groups else ""
        meter = ""
        if e.mean_fraction is not None:
            meter = (f'<span class="meter"><span style="width:{100 * e.mean_fraction:.1f}%;'
                     f'background:{_color(e.mean_fraction)}"></span></span>')
        mean = "—" if e.mean is None else f"{e.mean:.2f}"
        points = f"{e.points:g}"
        cls = "" if e.points > 0 else ' class="nopoints" title="worth no points"'
        rows.append(f'<tr data-exercise="{_e(e.id)}"{cls}><td>{_e(e.id)}</td><td>{_e(e.title)}</td>'
                    f'<td class="n">{points}</td><td class="n">{mean}</td>'
                    f'<td class="n" data-col="mean_fraction">{_pct(e.mean_fraction)}{meter}</td>'
                    f'<td class="n" data-col="full">{e.full}</td><td class="n" data-col="partial">{e.partial}</td>'
                    f'<td class="n" data-col="zero">{e.zero}</td>'
                    f'<td class="n" data-col="not_graded">{e.not_graded}</td><td>{top}</td></tr>')
    head = ("<tr><th>exercise</th><th>title</th><th class=\"n\">points</th><th class=\"n\">mean</th>"
            "<th class=\"n\">mean %</th><th class=\"n\">full</th><th class=\"n\">partial</th>"
            "<th class=\"n\">zero</th><th class=\"n\">not graded</th><th>most common failure (students)</th></tr>")
    return f'<table id="exercise-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _students(n: int) -> str:
    return f"{n} student" + ("" if n == 1 else "s")


def _failures(summary: ClassSummary) -> str:
    parts = []
    for e in summary.exercises:
        groups = summary.groups.get(e.id, [])
        graded = e.full + e.partial + e.zero
        lost = e.partial + e.zero
        if e.points <= 0 and not groups:
            continue
        parts.append(f'<h3 id="{_anchor(e.id)}">{_e(e.id)}: {_e(e.title)} '
                     f'<span class="muted">({lost} of {graded} graded lost points)</span></h3>')
        if not groups:
            parts.append('<p class="muted">No failed checks.</p>')
            continue
        shown = [_group(g) for g in groups[:GROUPS_SHOWN]]
        parts.extend(shown)
        if len(groups) > GROUPS_SHOWN:
            rest = "".join(_group(g) for g in groups[GROUPS_SHOWN:])
            parts.append(f"<details><summary>{len(groups) - GROUPS_SHOWN} more groups</summary>{rest}</details>")
    return "".join(parts)


def _label(g: FailureGroup) -> str:
    """What a group is about, in words: the mistake (its hint), the check that failed, or "not attempted"."""
    return {MISTAKE: f"Mistake: {g.title}", CHECK: f"Fails: {g.title}"}.get(g.cause, g.title) or g.pattern


def _group(g: FailureGroup) -> str:
    members = "".join(f"<li>{_e(m)}</li>" for m in g.members)
    hint = f'<p class="hint"><b>Hint given:</b> {_e(g.hint)}</p>' if g.hint else ""
    kind = f' <span class="kind">[{_e(g.kind)}]</span>' if g.kind else ""
    label = "check" if len(g.checks) == 1 else f"{len(g.checks)} checks"
    every = all(n == g.count for n in g.checks.values())  # else: how many students failed each check
    checks = " · ".join(f'<span class="crit">{_e(c)}</span>' + ("" if every else f" ({n})")
                        for c, n in g.checks.items())
    return (f'<details class="group" data-exercise="{_e(g.exercise)}" data-count="{g.count}" '
            f'data-cause="{_e(g.cause)}"><summary><span class="count">{_students(g.count)}</span><span class="what">'
            f'<b class="cause">{_e(_label(g))}</b> <code class="pattern">'
            f'{_e(g.pattern)}</code>{kind}<span class="checks">{label}: {checks}</span></span></summary>{hint}'
            f'<p class="muted">For example, {_e(g.example_file)}:</p><pre>{_e(g.example)}</pre>'
            f'<ul class="members">{members}</ul></details>')


#: Criteria shown at once in "Criteria, by pass rate" (the least passed); the rest behind "all criteria".
CRITERIA_SHOWN = 10


def _pass_rates(summary: ClassSummary) -> str:
    """Every criterion with the share of the graded submissions that passed it, the least passed first."""
    if not summary.criteria:
        return ""
    ordered = sorted(summary.criteria, key=lambda c: (c.rate, c.order))

    def table(rows) -> str:
        body = "".join(f'<tr class="criterion" data-exercise="{_e(c.exercise)}" data-passed="{c.passed}" '
                       f'data-graded="{c.graded}"><td>{_e(c.exercise)}</td><td>{_e(c.name)}</td>'
                       f'<td class="n">{c.max_points:g}</td><td class="n">{c.passed} / {c.graded}</td>'
                       f'<td class="n" style="background:{_color(c.rate)}">{_pct(c.rate)}</td></tr>' for c in rows)
        return ('<div class="scroll"><table><thead><tr><th>exercise</th><th>criterion</th><th class="n">points</th>'
                f'<th class="n">passed</th><th class="n">pass rate</th></tr></thead><tbody>{body}</tbody></table></div>')

    rest = ""
    if len(ordered) > CRITERIA_SHOWN:
        rest = (f'<details><summary>The other {len(ordered) - CRITERIA_SHOWN} criteria</summary>'
                f'{table(ordered[CRITERIA_SHOWN:])}</details>')
    return ('<section id="criteria"><h2>Criteria, by pass rate</h2><p class="muted">Which checks most students '
            'failed: each criterion with the share of the graded submissions that passed it, the least passed '
            f'first.</p>{table(ordered[:CRITERIA_SHOWN])}{rest}</section>')


def _cell_errors(summary: ClassSummary) -> str:
    groups = cell_error_groups(summary.submissions)
    if not groups:
        return ""
    items = "".join(f'<details class="group cell-group" data-count="{len(files)}"><summary><span class="count">'
                    f'{_students(len(files))}</span><span class="what"><code>{_e(label)}</code></span></summary>'
                    '<ul class="members">' + "".join(f"<li>{_e(f)}</li>" for f in files) + "</ul></details>"
                    for label, files in groups)
    return (f'<section id="cell-errors"><h2>Errors raised by notebook cells</h2><p class="muted">A cell that '
            f'raises does not stop grading, but it can leave later names undefined.</p>{items}</section>')


def _problems(summary: ClassSummary) -> str:
    rows = []
    for s in sorted(summary.submissions, key=lambda s: (s.status == "graded", s.status, s.file)):
        cell_issues = [e for e in s.cell_errors if e.type in ("Timeout", "Crash")]
        nothing = s.scored and s.possible > 0 and s.score <= EPS  # blank, or another assignment's notebook
        if s.status == "graded" and not cell_issues and not nothing:
            continue
        message = s.message
        if nothing:
            message += ("\n" if message else "") + ("0 points in every exercise: a blank notebook, another "
                                                     "assignment's, or functions with other names?")
        for err in cell_issues:
            what = "timed out" if err.type == "Timeout" else "crashed"
            message += ("\n" if message else "") + f"cell {err.cell} {what}: {err.message}"
        score = f"{s.score:g}" if s.scored else "not graded"
        rows.append(f'<tr class="problem" data-status="{_e(s.status)}"><td>{_e(s.file)}</td><td>{_e(s.status)}</td>'
                    f'<td class="n">{score}</td><td class="msg">{_e(message)}</td></tr>')
    if not rows:
        return ('<section id="problems"><h2>Submissions with problems</h2>'
                '<p class="muted">None: every submission ran to the end.</p></section>')
    return ('<section id="problems"><h2>Submissions with problems</h2><p class="muted">Not graded, timed out, '
            'crashed, 0 points everywhere, or with a cell that timed out or crashed.</p><table><thead><tr><th>submission</th>'
            f'<th>status</th><th class="n">points</th><th>message</th></tr></thead><tbody>{"".join(rows)}'
            '</tbody></table></section>')


def _unreadable(summary: ClassSummary) -> str:
    if not summary.unreadable:
        return ""
    items = "".join(f'<li class="unreadable"><code>{_e(name)}</code>: {_e(why)}</li>'
                    for name, why in summary.unreadable)
    return (f'<section id="unreadable"><h2>Results files that could not be read</h2><p class="muted">'
            f'Left out of every number above.</p><ul>{items}</ul></section>')


def _all_students(summary: ClassSummary) -> str:
    stats = summary.exercises
    subs = sorted(summary.submissions, key=lambda s: (not s.scored, -s.score, s.file))
    head = "".join(f'<th class="n" title="{_e(e.title)}">{_e(e.id)}</th>' for e in stats)
    rows = []
    for i, s in enumerate(subs, 1):
        cells = []
        for e in stats:
            if not s.exercise_graded(e.id):
                cells.append(f'<td class="n" style="background:{NA}">—</td>')
                continue
            f = _fraction(s, e)
            cells.append(f'<td class="n" style="background:{_color(f)}">{s.exercises[e.id].score:g}</td>')
        total = f"{s.score:g}" if s.scored else "—"
        rows.append(f'<tr><td class="n">{i if s.scored else ""}</td><td>{_e(s.file)}</td><td>{_e(s.status)}</td>'
                    f'<td class="n">{total}</td>{"".join(cells)}</tr>')
    return ('<section id="students"><h2>All submissions</h2><details><summary>Scores of every submission, '
            f'by total ({summary.count})</summary><div class="scroll"><table><thead><tr><th class="n">#</th>'
            f'<th>submission</th><th>status</th><th class="n">total</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></details></section>')


def _versions(summary: ClassSummary) -> str:
    versions = Counter(s.version for s in summary.submissions if s.version)
    if not versions:
        return ""
    if len(versions) == 1:
        return f" Grader version {_e(next(iter(versions)))}."
    listed = ", ".join(f"{_e(v)} ({n})" for v, n in versions.most_common())
    return f' <b>Mixed grader versions:</b> {listed}.'


def render_html(summary: ClassSummary, plots: dict[str, tuple[str, int, int]], title: str = "Class report",
                sections: tuple[str, ...] = ()) -> str:
    """The page; ``sections``: HTML of further sections (escaped by their makers), after the problems."""
    head = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>{_e(title)}</h1>")
    foot = "</main></body></html>\n"
    n_files = summary.count + len(summary.unreadable)
    sub = (f'<p class="sub">Built from {n_files} results file{"" if n_files == 1 else "s"} in '
           f"<code>results/</code>.{_versions(summary)}</p>")
    if not summary.submissions:
        body = '<p class="empty" id="no-results">No results: there is no readable results file to report on.</p>'
        return head + sub + body + _unreadable(summary) + foot
    parts = [sub, '<section id="summary"><h2>Summary</h2>', _stat_cards(summary)]
    if summary.scored:
        figs = []
        if "histogram" in plots:
            figs.append(_figure_html("histogram", plots["histogram"], "histogram of total scores",
                                     "Totals of the graded submissions; not-graded submissions are left out."))
        if "exercises" in plots:
            figs.append(_figure_html("exercise-bars", plots["exercises"], "full, partial and zero marks per exercise",
                                     "Share of graded submissions with full, partial and zero marks; mean score "
                                     "as a percentage of the exercise's points on the right."))
        parts.append(f'<div class="plots">{"".join(figs)}</div>')
    else:
        parts.append('<p class="muted">No submission could be graded.</p>')
    parts.append("</section>")
    parts.append(f'<section id="exercises"><h2>Per exercise</h2>{_exercise_table(summary)}</section>')
    if "heatmap" in plots:
        n = summary.scored
        how = "labelled with names and totals" if n <= LABELLED_ROWS else "by rank"
        caption = (f"Fraction of each exercise's points. Rows: the {n} graded submissions, best total first, "
                   f"{how}; columns in exercise order; grey: not graded.")
        parts.append('<section id="heatmap-section"><h2>Students × exercises</h2>'
                     + _figure_html("heatmap", plots["heatmap"], "heatmap of the fraction of points per student "
                                    "and exercise", caption) + "</section>")
    parts.append('<section id="failures"><h2>What went wrong, per exercise</h2><p class="muted">Failures '
                 "grouped by their cause: the known mistake whose hint the students were given, else the first "
                 "check of a function that failed; a function's other failures and the criteria that count only "
                 "once it is right are folded into its group. The most common first; functions not written yet "
                 "(not defined, returning None, raising NotImplementedError) last, as one group. Open a group for "
                 f"the hint, an example and the submissions.</p>{_failures(summary)}</section>")
    parts += [_pass_rates(summary), _cell_errors(summary), _problems(summary), *sections, _unreadable(summary),
              _all_students(summary)]
    return head + "".join(parts) + foot
