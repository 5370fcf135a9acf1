"""The class report's section on similar code: the pairs worth a look, both codes side by side.

Read from the output directory alone: ``similarity.json`` (the rows of ``similarity.csv``, names
as they are) and each pair's ``code/<name>.json``. The statements two submissions share (in the
canonical form of :mod:`grader.reports.similarity.normalise`, the starter code's left out) are highlighted
in both. Every string is the students': escaped with :func:`html.escape` before it reaches the page.
"""
from __future__ import annotations

import html
from pathlib import Path

from grader.reports.similarity.normalise import ExerciseCode
from grader.reports.similarity.store import Row, code_path, read_code, read_pairs

PAIRS_SHOWN = 12  # pairs of code side by side (the best per-exercise rows)
TABLE_ROWS = 30  # rows of the overall table


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _code(out_dir: Path, name: str, exercise: str) -> ExerciseCode | None:
    """The code of ``name``: at its name's stem, or at ``<stem>-2``, ``-3`` ... where two names share a stem
    (``grader.pipeline.submissions.output_stems``)."""
    base = code_path(out_dir, name)
    for path in (base, *sorted(base.parent.glob(f"{base.stem}-*.json"))):
        code = read_code(path)
        if code is not None and code.file == name:
            return code.exercises.get(exercise)
    return None


def _marked(code: ExerciseCode, shared: set[str]) -> str:
    """The code, escaped, with the lines of its shared statements in ``<mark class="shared">``."""
    lines = code.code.split("\n")
    hit = set()
    for unit in code.units:
        for s in unit:
            if s.first > 0 and s.key in shared:
                hit.update(range(s.first, s.last + 1))
    return "\n".join(f'<mark class="shared">{_e(line)}</mark>' if i in hit else _e(line)
                     for i, line in enumerate(lines, 1))


def _keys(code: ExerciseCode) -> set[str]:
    return {s.key for unit in code.units for s in unit if s.first > 0}


def _pair(out_dir: Path, row: Row, starter: set[str]) -> str:
    a, b = _code(out_dir, row.a, row.exercise), _code(out_dir, row.b, row.exercise)
    if a is None or b is None:
        body = '<p class="muted">The code of one of the two is not in <code>code/</code>.</p>'
    else:
        shared = (_keys(a) & _keys(b)) - starter
        body = (f'<div class="side-by-side"><div><h4>{_e(row.a)}</h4><pre class="code" data-side="a">'
                f'{_marked(a, shared)}</pre></div><div><h4>{_e(row.b)}</h4><pre class="code" data-side="b">'
                f'{_marked(b, shared)}</pre></div></div>')
    failures = f", {row.shared_failures} rare failure(s) in common" if row.shared_failures else ""
    return (f'<details class="group pair" data-a="{_e(row.a)}" data-b="{_e(row.b)}" data-exercise="{_e(row.exercise)}" '
            f'data-score="{row.score:.3f}"><summary><span class="count">{row.score:.2f}</span><span class="what">'
            f'<b>{_e(row.exercise)}</b>: {_e(row.a)} and {_e(row.b)}{failures}</span></summary>{body}</details>')


def similarity_section(out_dir: Path, starter: set[str] | None = None) -> str:
    """The section's HTML; empty when the similarity was not computed (no ``similarity.json``).

    ``starter``: canonical statements of the starter code, never highlighted."""
    found = read_pairs(out_dir)
    if found is None:
        return ""
    rows, threshold = found
    note = ('<p class="note"><b>Similarity is a reason to look, not a verdict.</b> Short answers, the '
            'reference approach and code from the same lecture or textbook are written alike by students who '
            'worked alone; a high score says only that two submissions share code that the rest of the class '
            'does not. Read both before concluding anything.</p>')
    intro = (f'<p class="muted">Pairs whose code for an exercise (or over all exercises) scores at least '
             f'{threshold:g}, after taking out the starter code and weighing down what the class and the '
             f'reference solution have in common, or that share rare failures (the same criteria failed the '
             f'same way). Every row is in <code>similarity.csv</code>.</p>')
    if not rows:
        return (f'<section id="similarity"><h2>Similar code</h2>{note}{intro}<p class="muted" id="no-pairs">'
                f'No pair reaches the threshold.</p></section>')
    overall = [r for r in rows if r.exercise == "all"][:TABLE_ROWS]
    table = "".join(f'<tr class="pair-row"><td>{_e(r.a)}</td><td>{_e(r.b)}</td><td class="n">{r.score:.2f}</td>'
                    f'<td class="n">{r.shared_failures}</td></tr>' for r in overall)
    table = (f'<table id="similar-pairs"><thead><tr><th>submission</th><th>submission</th><th class="n">score '
             f'(all exercises)</th><th class="n">rare failures in common</th></tr></thead><tbody>{table}</tbody>'
             f'</table>') if overall else ""
    shown = [r for r in rows if r.exercise != "all"][:PAIRS_SHOWN]
    pairs = "".join(_pair(out_dir, r, starter or set()) for r in shown)
    return (f'<section id="similarity"><h2>Similar code</h2>{note}{intro}{table}'
            f'<h3>The closest pairs, exercise by exercise</h3><p class="muted">Highlighted: the statements both '
            f'wrote (the same once names, layout, comments and trivial spellings are set aside).</p>{pairs}</section>')
