"""The class report: what the class got wrong, at a glance.

``write_report(out_dir)`` reads only ``out_dir/results/*.json`` (the grader's own
records, through :func:`grader.report.read_record`), never a file a submission
wrote and never ``feedback/*.md``, and writes

- ``report.html``: one self-contained page (plots embedded as PNG data URIs, no
  script, no network) with the score distribution, per-exercise numbers, a
  students x exercises heatmap, the most common failures per exercise (grouped
  by the normalised first line of the message, with the criteria that gave it),
  the submissions with problems, and the results files that could not be read;
- ``summary.csv``: the per-exercise numbers.

Vocabulary used throughout. A submission is *scored* when the grader ran it and
awarded points per exercise (status ``graded``, or ``timeout``/``crashed``,
which keep the points earned before the problem); otherwise (``invalid-notebook``,
``unreadable``, ``too-large``, ``error`` ...) it is *not graded* and is left out
of every mean, median, count of full/partial/zero, plot and failure group. An
exercise worth 0 points has no fraction and is left out of the plots.

Every string from a record is escaped with :func:`html.escape` before it reaches
the page, and ``$`` is escaped before it reaches matplotlib (mathtext).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.text import csv_cell, one_line, plain

SUMMARY_COLUMNS = ["exercise", "title", "points", "mean", "mean_fraction", "full", "partial", "zero", "not_graded"]
SCORED_STATUSES = {"graded", "timeout", "crashed"}
EPS = 1e-9
FOREIGN = "not a results file written by this grader (unreadable, damaged or foreign JSON)"
GROUPS_SHOWN = 8  # failure groups shown per exercise before "more groups"


# --- records, validated ---------------------------------------------------------------------------
@dataclass
class Criterion:
    name: str
    points: float
    max_points: float
    message: str
    kind: str


@dataclass
class ExerciseResult:
    title: str
    score: float
    max_score: float
    criteria: list[Criterion]


@dataclass
class Submission:
    file: str
    status: str
    message: str
    score: float
    possible: float
    exercises: dict[str, ExerciseResult]
    cell_errors: list[dict[str, str]]
    version: str

    @property
    def scored(self) -> bool:
        return self.status in SCORED_STATUSES or any(e.criteria for e in self.exercises.values())

    def exercise_graded(self, q: str) -> bool:
        return self.scored and q in self.exercises


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return float(value)


def _text(value: Any) -> str:
    """Printable text (grader.text.plain): records are ours, but the page must not trust a file."""
    return "" if value is None else plain(str(value), 20_000)


def parse_record(record: dict) -> Submission:
    """A record as plain, validated data; ``ValueError`` if it is not a complete grader record."""
    try:
        exercises = {}
        if not isinstance(record["exercises"], dict):
            raise TypeError("exercises is not a mapping")
        for q, ex in record["exercises"].items():
            criteria = [Criterion(_text(c["name"]), _num(c["points"], "points"), _num(c["max_points"], "max_points"),
                                  _text(c.get("message")), _text(c.get("kind")))
                        for c in ex.get("criteria") or []]
            exercises[str(q)] = ExerciseResult(_text(ex.get("title")), _num(ex["score"], f"{q} score"),
                                               _num(ex["max_score"], f"{q} max_score"), criteria)
        cells = record.get("cells") or {}
        errors = [{k: _text(err.get(k)) for k in ("cell", "type", "message", "line")}
                  for err in (cells.get("errors") or [])]
        provenance = record.get("provenance") or {}
        return Submission(_text(record.get("file")) or "(no name)", _text(record.get("status")) or "unknown",
                          _text(record.get("message")), _num(record["score"], "score"),
                          _num(record["possible"], "possible"), exercises, errors,
                          _text(provenance.get("grader_version")) if isinstance(provenance, dict) else "")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def load_results(out_dir: Path) -> tuple[list[Submission], list[tuple[str, str]]]:
    """(submissions, unreadable) from ``out_dir/results/*.json``; unreadable is (file name, why)."""
    from grader.report import read_record

    subs: list[Submission] = []
    unreadable: list[tuple[str, str]] = []
    results = Path(out_dir) / "results"
    paths = sorted(results.glob("*.json")) if results.is_dir() else []
    for path in paths:
        record = read_record(path)
        if record is None:
            unreadable.append((path.name, FOREIGN))
            continue
        try:
            subs.append(parse_record(record))
        except ValueError as exc:
            unreadable.append((path.name, f"an incomplete grader record ({exc})"))
    subs.sort(key=lambda s: s.file)
    return subs, unreadable


# --- grouping messages -------------------------------------------------------------------------------
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_DIMS = re.compile(r"(?<![\w.])\d+(?:x\d+)+(?!\w)")  # 8x3
_NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w)")
_INNER = re.compile(r"\[[^\[\]()]*\]|\([^\[\]()]*\)")  # innermost: no bracket of either kind inside
_OPAQUE = re.compile(r"<(?:array \x03…\x04|list of #)>")  # how a call quotes a large argument
_FILLER = re.compile(r"#|nan|inf|True|False|\.\.\.|…|[\s,.;:+\-\x01-\x04]")
_SPACE = re.compile(r"\s+")


def first_statement(message: str, max_lines: int = 40) -> str:
    """The first line of a message, continued while a bracket is open (numpy prints long arrays on many lines)."""
    lines = message.strip().splitlines()
    if not lines:
        return ""
    out, depth = [], 0
    for line in lines[:max_lines]:
        out.append(line)
        depth += sum(line.count(c) for c in "([") - sum(line.count(c) for c in ")]")
        if depth <= 0:
            break
    return " ".join(out)


def normalise_message(message: str, limit: int = 200) -> str:
    """The first line of a failure message with numbers, shapes and array values taken out.

    ``softmax([1000. 999. 998.]) returned nan at z = 1000 (3 of 3 elements ...)`` becomes
    ``softmax(…) returned nan at z = # (# of # elements ...)``, so the same mistake made by
    different students (on different random inputs) falls into one group.
    """
    line = first_statement(message)
    line = _NUM.sub("#", _DIMS.sub("#x#", _HEX.sub("#", line)))

    def collapse(m: re.Match) -> str:
        text = m.group(0)
        inner = text[1:-1] if _FILLER.sub("", text[1:-1]) else "…"  # only values inside: collapse them
        # brackets done with are hidden from later rounds, so the enclosing pair becomes innermost
        return ("\x01" + inner + "\x02") if text[0] == "[" else ("\x03" + inner + "\x04")

    for _ in range(8):  # innermost first; nested arrays need a few rounds
        new = _OPAQUE.sub("…", _INNER.sub(collapse, line))
        if new == line:
            break
        line = new
    line = line.translate({1: "[", 2: "]", 3: "(", 4: ")"})
    line = _SPACE.sub(" ", line).strip()
    return line if len(line) <= limit else line[:limit - 1] + "…"


def hint_of(message: str) -> str:
    for line in message.splitlines():
        line = line.strip()
        if line.startswith("Hint:"):
            return line[5:].strip()
    return ""


@dataclass
class FailureGroup:
    """The submissions whose failed checks of one exercise say the same thing.

    Failures are keyed by (criterion name, normalised first line); the keys of one
    exercise that share the normalised line are shown as one group (a function that
    is not defined fails every check that calls it, with the same message), with the
    number of students per criterion in ``checks``.
    """

    exercise: str
    pattern: str
    checks: dict[str, int] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    kind: str = ""
    hint: str = ""
    example: str = ""
    example_file: str = ""

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def criteria(self) -> list[str]:
        return list(self.checks)


def failure_groups(subs: Iterable[Submission], q: str) -> list[FailureGroup]:
    """Failed criteria of exercise ``q``, grouped (see :class:`FailureGroup`), most common first."""
    groups: dict[str, FailureGroup] = {}
    members: dict[str, dict[str, set[str]]] = {}
    hints: dict[str, Counter] = {}
    kinds: dict[str, Counter] = {}
    for s in subs:
        if not s.exercise_graded(q):
            continue
        for c in s.exercises[q].criteria:
            if c.points >= c.max_points - EPS:
                continue
            pattern = normalise_message(c.message) or "(no message)"
            if pattern not in groups:
                groups[pattern] = FailureGroup(q, pattern, example=c.message, example_file=s.file)
                members[pattern], hints[pattern], kinds[pattern] = {}, Counter(), Counter()
            members[pattern].setdefault(c.name, set()).add(s.file)
            hints[pattern][hint_of(c.message)] += 1
            kinds[pattern][c.kind] += 1
    for pattern, group in groups.items():
        by_check = members[pattern]
        group.checks = {name: len(files) for name, files in sorted(by_check.items(), key=lambda kv: -len(kv[1]))}
        group.members = sorted(set().union(*by_check.values()))
        group.hint = next((h for h, _ in hints[pattern].most_common() if h), "")
        group.kind = next((k for k, _ in kinds[pattern].most_common() if k), "")
    return sorted(groups.values(), key=lambda g: (-g.count, -len(g.checks), g.pattern))


def cell_error_groups(subs: Iterable[Submission]) -> list[tuple[str, list[str]]]:
    """Errors raised by notebook cells, grouped by type and normalised message: (label, files)."""
    groups: dict[str, list[str]] = {}
    for s in subs:
        for err in s.cell_errors:
            label = f"{err['type'] or 'Error'}: {normalise_message(err['message'])}".rstrip(": ")
            files = groups.setdefault(label, [])
            if s.file not in files:
                files.append(s.file)
    return sorted(((label, sorted(files)) for label, files in groups.items()), key=lambda kv: (-len(kv[1]), kv[0]))


# --- numbers ---------------------------------------------------------------------------------------
@dataclass
class ExerciseStats:
    id: str
    title: str
    points: float
    mean: float | None
    mean_fraction: float | None
    full: int
    partial: int
    zero: int
    not_graded: int

    def row(self) -> dict[str, Any]:
        return {"exercise": self.id, "title": self.title, "points": f"{self.points:g}",
                "mean": "" if self.mean is None else f"{round(self.mean, 4):g}",
                "mean_fraction": "" if self.mean_fraction is None else f"{self.mean_fraction:.4f}",
                "full": self.full, "partial": self.partial, "zero": self.zero, "not_graded": self.not_graded}


@dataclass
class ClassSummary:
    submissions: list[Submission]
    unreadable: list[tuple[str, str]]
    exercises: list[ExerciseStats]
    groups: dict[str, list[FailureGroup]]
    count: int = 0
    scored: int = 0
    mean: float | None = None
    median: float | None = None
    possible: float = 0.0
    full_marks: int = 0
    statuses: Counter = field(default_factory=Counter)
    not_graded: Counter = field(default_factory=Counter)

    @property
    def scored_subs(self) -> list[Submission]:
        return [s for s in self.submissions if s.scored]


def _exercise_order(subs: list[Submission]) -> list[str]:
    from grader.exercises import EXERCISES

    known = list(EXERCISES)
    seen = {q for s in subs for q in s.exercises}

    def key(q: str):
        if q in known:
            return (0, known.index(q), q)
        digits = re.sub(r"\D", "", q)
        return (1, int(digits) if digits else 10**9, q)

    return sorted(seen, key=key)


def _title_and_points(q: str, subs: list[Submission]) -> tuple[str, float]:
    """The most common title and points in the records; the exercise table only if no record has any."""
    titles = Counter(s.exercises[q].title for s in subs if q in s.exercises and s.exercises[q].title)
    points = Counter(s.exercises[q].max_score for s in subs if s.exercise_graded(q))
    if not points:
        points = Counter(s.exercises[q].max_score for s in subs if q in s.exercises)
    title = titles.most_common(1)[0][0] if titles else ""
    if not title or not points:
        from grader.exercises import EXERCISES

        ex = EXERCISES.get(q)
        title = title or (ex.title if ex else q)
        if not points and ex:
            points[float(ex.points)] = 1
    return title, (points.most_common(1)[0][0] if points else 0.0)


def summarise(subs: list[Submission], unreadable: list[tuple[str, str]] | None = None) -> ClassSummary:
    """Every number the report shows, computed once."""
    import statistics

    summary = ClassSummary(subs, list(unreadable or []), [], {})
    summary.count = len(subs)
    summary.statuses = Counter(s.status for s in subs)
    summary.not_graded = Counter(s.status for s in subs if not s.scored)
    scored = [s for s in subs if s.scored]
    summary.scored = len(scored)
    if scored:
        totals = [s.score for s in scored]
        summary.mean = statistics.fmean(totals)
        summary.median = float(statistics.median(totals))
        summary.possible = Counter(s.possible for s in scored).most_common(1)[0][0]
        summary.full_marks = sum(s.possible > 0 and s.score >= s.possible - EPS for s in scored)
    for q in _exercise_order(subs):
        title, points = _title_and_points(q, subs)
        graded = [s.exercises[q] for s in subs if s.exercise_graded(q)]
        full = partial = zero = 0
        if points > 0:
            for e in graded:
                if e.max_score > 0 and e.score >= e.max_score - EPS:
                    full += 1
                elif e.score <= EPS:
                    zero += 1
                else:
                    partial += 1
        mean = statistics.fmean(e.score for e in graded) if graded else None
        fraction = mean / points if mean is not None and points > 0 else None
        summary.exercises.append(ExerciseStats(q, title, points, mean, fraction, full, partial, zero,
                                               len(subs) - len(graded)))
        summary.groups[q] = failure_groups(subs, q)
    return summary


def write_summary_csv(path: Path, summary: ClassSummary) -> None:
    from grader.report import atomic_write

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in ex.row().items()} for ex in summary.exercises)
    atomic_write(path, buf.getvalue())


# --- plots -------------------------------------------------------------------------------------------
DPI = 100      # CSS pixels per inch of figure size: the <img> is shown at figsize * DPI
SCALE = 1.3    # rendered at DPI * SCALE so it stays sharp on high-density screens
FULL, PARTIAL, ZERO, NA = "#1a9850", "#fdae61", "#d73027", "#d9d9d9"
RC = {"font.size": 10.5, "axes.titlesize": 12, "axes.labelsize": 10.5, "xtick.labelsize": 9.5,
      "ytick.labelsize": 9.5, "legend.fontsize": 9.5, "axes.spines.top": False, "axes.spines.right": False,
      "font.family": "DejaVu Sans", "svg.fonttype": "none"}


def _mpl(text: str, limit: int = 40) -> str:
    """A record string made safe for a matplotlib label: short, and ``$`` does not start mathtext."""
    return one_line(text, limit).replace("$", r"\$")


def _png(fig) -> tuple[str, int, int]:
    """(base64 PNG, CSS width, CSS height) of a figure."""
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        # a file name in a script the font lacks (CJK, emoji) is drawn as a box: nothing to tell the user
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        fig.savefig(buf, format="png", dpi=DPI * SCALE)
    w, h = fig.get_size_inches()
    return base64.b64encode(buf.getvalue()).decode("ascii"), round(w * DPI), round(h * DPI)


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="tight")


def plot_histogram(summary: ClassSummary):
    subs = summary.scored_subs
    totals = [s.score for s in subs]
    top = max([summary.possible, *totals, 1.0])
    fig = _figure(6.2, 3.4)
    ax = fig.add_subplot()
    bins = [top * i / 20 for i in range(21)]
    ax.hist(totals, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.8)
    ax.axvline(summary.mean, color="#222222", linestyle="--", linewidth=1.2, label=f"mean {summary.mean:.1f}")
    ax.axvline(summary.median, color="#c44e52", linestyle=":", linewidth=1.6, label=f"median {summary.median:.1f}")
    ax.set_xlim(0, top)
    ax.set_xlabel(f"total points (of {summary.possible:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"Score distribution ({len(subs)} graded)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, loc="upper left")
    return fig


def plot_exercises(stats: list[ExerciseStats]):
    stats = [e for e in stats if e.points > 0]
    fig = _figure(6.2, max(2.6, 0.36 * len(stats) + 1.4))
    ax = fig.add_subplot()
    labels = [_mpl(f"{e.id} {e.title}", 30) for e in stats]
    y = list(range(len(stats)))
    left = [0.0] * len(stats)
    for name, color, attr in (("full", FULL, "full"), ("partial", PARTIAL, "partial"), ("zero", ZERO, "zero")):
        widths = []
        for e in stats:
            n = e.full + e.partial + e.zero
            widths.append(getattr(e, attr) / n if n else 0.0)
        ax.barh(y, widths, left=left, color=color, label=name, height=0.7)
        left = [a + b for a, b in zip(left, widths)]
    for i, e in enumerate(stats):
        text = "—" if e.mean_fraction is None else f"{100 * e.mean_fraction:.0f}%"
        ax.text(1.02, i, text, va="center", ha="left", fontsize=9.5)
    ax.text(1.02, -0.75, "mean", va="center", ha="left", fontsize=9, color="#555555")
    ax.set_yticks(y, labels)
    ax.set_ylim(len(stats) - 0.5, -1.0)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_xlabel("share of graded submissions")
    ax.set_title("Full, partial and zero marks per exercise", pad=24)
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(ncols=3, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), borderaxespad=0.2)
    return fig


LABELLED_ROWS = 60


def plot_heatmap(summary: ClassSummary):
    from matplotlib import colormaps

    stats = [e for e in summary.exercises if e.points > 0]
    subs = sorted(summary.scored_subs, key=lambda s: (-s.score, s.file))
    n = len(subs)
    grid = [[_fraction(s, e) for e in stats] for s in subs]
    labelled = n <= LABELLED_ROWS
    height = (1.5 + 0.17 * n) if labelled else min(9.0, 2.0 + 0.035 * n)
    fig = _figure(min(9.0, 3.8 + 0.5 * len(stats)), max(2.4, height))
    ax = fig.add_subplot()
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cmap = colormaps["RdYlGn"].with_extremes(bad=NA)
    values = np.array([[math.nan if v is None else v for v in row] for row in grid], dtype=float).reshape(n, len(stats))
    # colours mapped here, so the image is resampled as bytes (several times faster than float data)
    ax.imshow(cmap(np.ma.masked_invalid(values), bytes=True), aspect="auto", interpolation="nearest")
    image = ScalarMappable(Normalize(0, 1), cmap)
    ax.set_xticks(range(len(stats)), [f"{e.id}\n{e.points:g} pt" for e in stats])
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", length=0)
    if labelled:
        ax.set_yticks(range(n), [f"{_mpl(s.file, 32)}  ({s.score:g})" for s in subs], fontsize=8.5 if n > 30 else 9.5)
        ax.tick_params(axis="y", length=0)
        if n <= 40:  # white separators: two line collections, far cheaper than minor ticks
            ax.vlines([x - 0.5 for x in range(1, len(stats))], -0.5, n - 0.5, color="white", linewidth=1.2)
            ax.hlines([y - 0.5 for y in range(1, n)], -0.5, len(stats) - 0.5, color="white", linewidth=1.2)
    else:
        step = max(10, round(n / 10 / 10) * 10)
        ticks = [0, *range(step - 1, n, step)]
        ax.set_yticks(ticks, [str(t + 1) for t in ticks])
        ax.set_ylabel("rank by total (names in the table of all submissions)")
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, shrink=min(1.0, 6 / max(height, 1)))
    bar.set_label("fraction of the exercise's points")
    bar.ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    return fig


def _fraction(s: Submission, e: ExerciseStats) -> float | None:
    if not s.exercise_graded(e.id):
        return None
    ex = s.exercises[e.id]
    points = ex.max_score if ex.max_score > 0 else e.points
    return min(1.0, max(0.0, ex.score / points)) if points > 0 else None


def render_plots(summary: ClassSummary) -> dict[str, tuple[str, int, int]]:
    """The page's images, by name; none when nothing was graded."""
    if not summary.scored:
        return {}
    from matplotlib import rc_context

    out = {}
    with rc_context(RC):
        for name, make in (("histogram", plot_histogram), ("exercises", lambda s: plot_exercises(s.exercises)),
                           ("heatmap", plot_heatmap)):
            if name != "histogram" and not any(e.points > 0 for e in summary.exercises):
                continue
            out[name] = _png(make(summary))
    return out


# --- the page ---------------------------------------------------------------------------------------
CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); background: #fff; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 1.7em; margin: 0 0 2px; }
h2 { font-size: 1.3em; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 20px 0 6px; }
p.sub, .muted { color: var(--muted); }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
pre { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
      white-space: pre-wrap; overflow-wrap: anywhere; margin: 6px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 118px; }
.card .v { font-size: 1.5em; font-weight: 600; }
.card .k { color: var(--muted); font-size: 0.85em; }
.card.warn { border-color: #e3b341; background: #fff8e5; }
.card ul { margin: 2px 0 0; padding-left: 18px; font-size: 0.9em; }
.plots { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figcaption { color: var(--muted); font-size: 0.85em; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.nopoints td { color: var(--muted); }
td.msg { max-width: 640px; white-space: pre-wrap; overflow-wrap: anywhere; }
.meter { display: inline-block; width: 90px; height: 9px; background: #eee; border-radius: 4px;
         vertical-align: middle; margin-left: 6px; overflow: hidden; }
.meter span { display: block; height: 100%; }
details { margin: 4px 0; }
details.group { border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; }
details.group[open] { background: #fcfcfd; }
summary { cursor: pointer; }
.count { display: inline-block; width: 108px; font-weight: 600; vertical-align: top; }
.what { display: inline-block; width: calc(100% - 130px); vertical-align: top; }
.kind { color: var(--muted); font-size: 0.85em; }
.checks { display: block; color: var(--muted); font-size: 0.88em; }
.crit { color: var(--fg); }
ul.members { columns: 4 220px; margin: 4px 0 8px; padding-left: 20px; font-size: 0.92em; }
.hint { margin: 6px 0 4px; font-size: 0.93em; }
.scroll { max-height: 78vh; overflow: auto; border: 1px solid var(--line); }
.scroll table { margin: 0; }
.scroll th { position: sticky; top: 0; }
.empty { font-size: 1.2em; padding: 30px 0; }
"""


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
        top = (f'<a href="#{_anchor(e.id)}" title="{_e(groups[0].pattern)}">{_e(_short(groups[0].pattern))}</a> '
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


def _group(g: FailureGroup) -> str:
    members = "".join(f"<li>{_e(m)}</li>" for m in g.members)
    hint = f'<p class="hint"><b>Hint given:</b> {_e(g.hint)}</p>' if g.hint else ""
    kind = f' <span class="kind">[{_e(g.kind)}]</span>' if g.kind else ""
    label = "check" if len(g.checks) == 1 else f"{len(g.checks)} checks"
    every = all(n == g.count for n in g.checks.values())  # else: how many students failed each check
    checks = " · ".join(f'<span class="crit">{_e(c)}</span>' + ("" if every else f" ({n})")
                        for c, n in g.checks.items())
    return (f'<details class="group" data-exercise="{_e(g.exercise)}" data-count="{g.count}">'
            f'<summary><span class="count">{_students(g.count)}</span><span class="what"><code class="pattern">'
            f'{_e(g.pattern)}</code>{kind}<span class="checks">{label}: {checks}</span></span></summary>{hint}'
            f'<p class="muted">For example, {_e(g.example_file)}:</p><pre>{_e(g.example)}</pre>'
            f'<ul class="members">{members}</ul></details>')


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
        cell_issues = [e for e in s.cell_errors if e["type"] in ("Timeout", "Crash")]
        if s.status == "graded" and not cell_issues:
            continue
        message = s.message
        for err in cell_issues:
            what = "timed out" if err["type"] == "Timeout" else "crashed"
            message += ("\n" if message else "") + f"cell {err['cell']} {what}: {err['message']}"
        score = f"{s.score:g}" if s.scored else "not graded"
        rows.append(f'<tr class="problem" data-status="{_e(s.status)}"><td>{_e(s.file)}</td><td>{_e(s.status)}</td>'
                    f'<td class="n">{score}</td><td class="msg">{_e(message)}</td></tr>')
    if not rows:
        return ('<section id="problems"><h2>Submissions with problems</h2>'
                '<p class="muted">None: every submission ran to the end.</p></section>')
    return ('<section id="problems"><h2>Submissions with problems</h2><p class="muted">Not graded, timed out, '
            'crashed, or with a cell that timed out or crashed.</p><table><thead><tr><th>submission</th>'
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


def render_html(summary: ClassSummary, plots: dict[str, tuple[str, int, int]], title: str = "Class report") -> str:
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
    parts.append('<section id="failures"><h2>What went wrong, per exercise</h2><p class="muted">Failed checks '
                 "grouped by the first line of their message, with numbers, shapes and array values taken out, "
                 "and the checks that gave it; the most common first. Open a group for the hint, an example and "
                 "the submissions."
                 f"</p>{_failures(summary)}</section>")
    parts += [_cell_errors(summary), _problems(summary), _unreadable(summary), _all_students(summary)]
    return head + "".join(parts) + foot


def write_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/summary.csv`` from ``out_dir/results``; return the page's path."""
    from grader.report import atomic_write

    out_dir = Path(out_dir)
    subs, unreadable = load_results(out_dir)
    summary = summarise(subs, unreadable)
    plots = render_plots(summary)
    path = out_dir / "report.html"
    atomic_write(path, render_html(summary, plots))
    write_summary_csv(out_dir / "summary.csv", summary)
    return path
