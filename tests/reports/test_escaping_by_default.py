"""Escaping by default: the class report's templates escape every value, and the Markdown builder shows
every plain text as itself or as code. Each check is shown to see the break it guards against: the page
rendered with autoescaping off, and a builder that writes every string as it is, fail it.
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from markdown_it import MarkdownIt

from grader.core import text
from grader.core.text import Code, Markdown, Strong
from grader.reports.classreport import templating, write_report
from grader.reports.similarity.normalise import ExerciseCode, Statement
from grader.reports.similarity.store import CodeFile, Row, write_code, write_pairs
from grader.rubric.exercises import EXERCISES
from test_classreport import make_record, write_records


# --- the page: a <script> in every kind of value a record or the similarity files can carry ----------------
def evil(kind: str) -> str:
    return f"<script>alert('{kind}')\"&<b>"  # no /: it is also a file name


KINDS = ("file", "title", "criterion", "message", "status", "version", "cell", "unreadable", "pair", "code")


def hostile_class(out: Path) -> Path:
    """Results whose every string is hostile, an unreadable results file, and a similar pair with its code."""
    exercises = {"q1": (evil("title"), [(evil("criterion"), 2.0), ("plain criterion", 1.0)])}
    records = []
    for i in range(3):
        rec = make_record(f"{evil('file')}{i}.ipynb", {("q1", evil("criterion")): evil("message")},
                          exercises=exercises, cell_errors=[{"cell": 1, "type": "Timeout", "message": evil("cell"),
                                                             "line": None}])
        rec["provenance"]["grader_version"] = evil("version") + str(i % 2)
        records.append(rec)
    records.append(make_record(evil("status") + ".ipynb", status=evil("status"), message=evil("message"),
                               exercises=exercises))
    write_records(out, records)
    (out / "results" / f"{evil('unreadable')}.json").write_text("not json", encoding="utf-8")
    a, b = f"{evil('pair')}a.ipynb", f"{evil('pair')}b.ipynb"
    source = f"def sigmoid(x):\n    return '{evil('code')}'"
    code = ExerciseCode(source, ((Statement(1, 1, ("def", "sigmoid")), Statement(2, 2, ("return", "s"))),))
    for name in (a, b):
        write_code(out, CodeFile(name, "0" * 64, {"q1": code}))
    write_pairs(out, [Row(a, b, "all", 0.9, 1), Row(a, b, "q1", 0.95, 0)], 0.5)
    return out


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [v or "" for _, v in attrs]

    def handle_data(self, data):
        self.text.append(data)


def assert_page_escaped(html: str) -> None:
    """No script element, and every kind of hostile value on the page as text (or an attribute's value)."""
    page = Page()
    page.feed(html)
    assert "script" not in page.tags
    shown = "".join(page.text) + "".join(page.attrs)
    for kind in KINDS:
        assert evil(kind) in shown, kind  # it reached the page, and reads back as it was written


def test_every_value_on_the_page_is_escaped(tmp_path):
    html = write_report(hostile_class(tmp_path)).read_text(encoding="utf-8")
    assert_page_escaped(html)
    assert "&lt;script&gt;alert(&#x27;file&#x27;)&quot;&amp;&lt;b&gt;" in html  # html.escape's spelling


def test_the_check_sees_a_page_rendered_without_autoescaping(tmp_path, monkeypatch):
    monkeypatch.setattr(templating, "ENV", templating.make_environment(autoescape=False))
    html = write_report(hostile_class(tmp_path)).read_text(encoding="utf-8")
    with pytest.raises(AssertionError):
        assert_page_escaped(html)


def test_template_layout_is_not_page_text():
    layout = templating.Layout(templating.ENV)
    source = '<p>\n  a {{ x\n  }} b\n</p>{% if y %}\n  c{% endif %}{{ "\\n" }}'
    assert layout.preprocess(source, "t") == '<p>a {{ x\n  }} b</p>{% if y %}c{% endif %}{{ "\\n" }}'
    page = templating.ENV.from_string(layout.preprocess(source, "t")).render(x="1\n  2", y=True)
    assert page == "<p>a 1\n  2 b</p>c\n"  # a value keeps its line breaks and indentation


def test_templates_are_shipped_as_package_data():
    names = set(templating.ENV.list_templates())
    assert {"page.html.j2", "similarity.html.j2"} <= names
    assert "templates/*.html.j2" in Path(__file__).parents[2].joinpath("pyproject.toml").read_text()


# --- Markdown --------------------------------------------------------------------------------------------
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
MARKUP = {"html_inline", "html_block", "link_open", "image", "em_open", "strong_open", "s_open", "heading_open",
          "blockquote_open", "ordered_list_open", "code_block", "fence", "hr", "table_open", "softbreak",
          "hardbreak"}


def shown(line: str, prefix: str) -> tuple[set[str], str]:
    """What Markdown makes of ``prefix + line``: the token types inside the block, and the text it shows."""
    tokens = MD.parse(prefix + line)
    inline = [t for t in tokens if t.type == "inline"]
    inner = [t.type for t in tokens if t.type not in {"bullet_list_open", "bullet_list_close", "list_item_open",
                                                      "list_item_close", "paragraph_open", "paragraph_close",
                                                      "inline"}]
    children = [c for t in inline for c in t.children or []]
    return set(inner) | {c.type for c in children}, "".join(c.content for c in children
                                                                if c.type in ("text", "code_inline"))


def assert_plain(s: str, build, expected: frozenset = frozenset()) -> None:
    """``s`` given to the builder is shown as its characters (one line), never as markup (``expected``: the
    markup the build itself adds)."""
    kinds, text_shown = shown(build(Markdown(), s).text(), "")
    assert not kinds & MARKUP - expected, (s, kinds)
    if s.strip():
        assert s.strip() in text_shown or text.one_line(s, text.MESSAGE_LIMIT) in text_shown, (s, text_shown)


BUILDS = {"bullet": lambda md, s: md.bullet(s), "paragraph": lambda md, s: md.paragraph(s),
          "bold": lambda md, s: md.paragraph(Strong("x"), " ", s)}
ADDED = {"bold": frozenset({"strong_open"})}
ALPHABET = st.sampled_from(list("ab1 _*`<>[]()!&#;|~\\:/.@w-=+\t\n") + ["www.", "http://", "&amp;", "<b>", "](u)"])


@given(st.lists(ALPHABET, max_size=14).map("".join), st.sampled_from(sorted(BUILDS)))
@settings(max_examples=400, deadline=None)
def test_any_plain_text_is_shown_as_itself_or_as_code(s, where):
    assert_plain(s, BUILDS[where], ADDED.get(where, frozenset()))


@pytest.mark.parametrize("s", ["**Total: 100 / 100**", "<script>alert(1)</script>", "[grade](http://evil.example)",
                               "# heading", "> quote", "1. item", "a | b", "`code`", "_a_ and _b_", "~~gone~~",
                               "&lt;", "    indented", "www.evil.example", "x@evil.example", "a ~b~ c"])
def test_markup_in_plain_text_becomes_code(s):
    assert Markdown().paragraph(s).text() == text.md_code(s, text.MESSAGE_LIMIT)  # all of it, as code
    for where, build in BUILDS.items():
        assert_plain(s, build, ADDED.get(where, frozenset()))


def test_the_check_sees_a_builder_that_writes_text_as_it_is(monkeypatch):
    monkeypatch.setattr(text, "reads_as_itself", lambda s: True)
    with pytest.raises(AssertionError):
        assert_plain("see **Total: 100 / 100**", BUILDS["bullet"])
    with pytest.raises(AssertionError):
        assert_plain("see <script>alert(1)</script>", BUILDS["paragraph"])


def test_the_rubric_wording_is_written_as_it_is():
    """Titles and criterion names keep their bytes in the feedback (and Markdown shows them as they are)."""
    for q, ex in EXERCISES.items():
        for wording in (f"{q}: {ex.title}", *(f"✅ {c.name} (1 / 1)" for c in ex.criteria)):
            assert text.reads_as_itself(wording), wording
            assert Markdown().bullet(wording).text() == f"- {wording}"
            assert_plain(wording, BUILDS["bullet"])


def test_a_table_cell_cannot_add_a_cell_and_a_code_block_holds_anything():
    md = Markdown().table(["exercise", "points"], [["q1 | 10 / 10", "1 / 2"]]).blank()
    md.code_block("```\n# Total: 100 / 100\n```", indent="  ")
    tokens = MD.parse(md.text())
    assert sum(t.type in ("th_open", "td_open") for t in tokens) == 4
    assert [t.content for t in tokens if t.type == "fence"] == ["```\n# Total: 100 / 100\n```\n"]
    assert Markdown().heading(2, "ends with #", Code("x#")).text() == "## ends with #`x#`"
    assert Markdown().heading(2, "a #").text() == "## a \\#"
