"""The class report's images (matplotlib, drawn with Agg on a bare ``Figure``: no pyplot, no
display), each returned as a base64 PNG to embed in the page. Every label from a record goes
through :func:`_mpl`, so ``$`` never starts mathtext."""
from __future__ import annotations

import base64
import io
import math

from grader.reports.classreport.stats import ClassSummary, ExerciseStats, fraction
from grader.core.text import one_line

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
    grid = [[fraction(s, e) for e in stats] for s in subs]
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
