"""The class report's templates: Jinja2 with autoescaping, so every value reaches the page escaped
unless it is :class:`markupsafe.Markup` (the output of another of these templates, or the one marked
value below).

The templates are package data (``templates/*.html.j2``). Their line breaks and indentation are
layout for the reader of the template, not for the page: :class:`Layout` drops them from the
template's text (never from a value), so a template can be indented like the HTML it holds while the
page stays the compact document it has always been. ``{{ "\\n" }}`` writes a line break into the page.

Every value is escaped by :func:`escape` (the environment's ``finalize``), with :func:`html.escape`,
which spells ``"`` and ``'`` as ``&quot;`` and ``&#x27;`` as the page always has (MarkupSafe would
write ``&#34;`` and ``&#39;``: a browser reads them alike, but the page's bytes would change).
"""
from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from grader.reports.classreport.grouping import CHECK, MISTAKE, FailureGroup
from grader.reports.classreport.plots import NA

#: the class report's style sheet (package data, the grader's own file)
CSS_TEXT = "\n" + files("grader.reports.classreport").joinpath("style.css").read_text(encoding="utf-8")

_TAG = re.compile(r"({%.*?%}|{{.*?}}|{#.*?#})", re.DOTALL)
_LAYOUT = re.compile(r"\n[ \t]*")


class Layout(Extension):
    """Drops each line break of a template's text, with the indentation after it (tags and values untouched)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        parts = _TAG.split(source)
        return "".join(part if i % 2 else _LAYOUT.sub("", part) for i, part in enumerate(parts))


# --- filters: how the page writes numbers, colours and labels -----------------------------------------------
def fmt(value: Any, spec: str) -> str:
    """``value|fmt("g")`` is ``f"{value:g}"``: the page's numbers are formatted as Python formats them."""
    return format(value, spec)


def pct(f: float | None) -> str:
    return "—" if f is None else f"{100 * f:.0f}%"


def color(f: float | None) -> str:
    """Background of a score cell: red (0) through yellow to green (full), grey when not graded."""
    if f is None:
        return NA
    stops = [(0.0, (0xf4, 0xa5, 0x82)), (0.5, (0xff, 0xf2, 0xb3)), (1.0, (0xa6, 0xdb, 0xa0))]
    for (f0, c0), (f1, c1) in itertools.pairwise(stops):
        if f <= f1:
            t = (f - f0) / (f1 - f0)
            return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(c0, c1))
    return "#a6dba0"


def anchor(q: str) -> str:
    """The id of an exercise's failures on the page (letters, digits, ``_`` and ``-`` only)."""
    return "fail-" + (re.sub(r"[^A-Za-z0-9_-]", "_", q) or "x")


def students(n: int) -> str:
    return f"{n} student" + ("" if n == 1 else "s")


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def label(g: FailureGroup) -> str:
    """What a group is about, in words: the mistake (its hint), the check that failed, or "not attempted"."""
    return {MISTAKE: f"Mistake: {g.title}", CHECK: f"Fails: {g.title}"}.get(g.cause, g.title) or g.pattern


FILTERS: dict[str, Callable[..., Any]] = {"fmt": fmt, "pct": pct, "color": color, "anchor": anchor,
                                          "students": students, "short": short, "label": label}


def escape(value: Any) -> Markup:
    """A value as it reaches the page: markup as it is, anything else as escaped text."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


def make_environment(*, autoescape: bool = True) -> Environment:
    """The templates' environment. ``autoescape=False`` exists only for the test that shows what escaping prevents."""
    env = Environment(loader=PackageLoader("grader.reports.classreport", "templates"), autoescape=autoescape,
                      finalize=escape if autoescape else None, undefined=StrictUndefined, extensions=[Layout])
    env.filters.update(FILTERS)
    # The one value marked safe: the style sheet, read from the package's own file (no record reaches it);
    # escaping would break its quotes and ">" selectors.
    env.globals["css"] = Markup(CSS_TEXT)
    return env


ENV = make_environment()


def render(name: str, /, **context: Any) -> Markup:
    """Template ``name`` rendered with ``context`` (values escaped), as markup to place into another template."""
    return Markup(ENV.get_template(name).render(**context))
