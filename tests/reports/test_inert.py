"""Text a submission controls is inert in every output: Markdown, HTML, terminal, CSV, results.json.

Each hostile text below is what a student's exception (message or class name), the grading
channel, or a file name can carry. It enters the trusted side where the worker's records are
decoded (``outcome_from_record``, ``execution._apply``), and every output is then read back the
way its reader would: the feedback rendered by a Markdown library, the class report parsed as
HTML, the terminal table printed on an emulated TTY, the CSV read by the csv module.
``test_inert_e2e.py`` sends the same texts through a real grading run.
"""
from __future__ import annotations

import csv
import io
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from markdown_it import MarkdownIt

from grader.core import text
from grader.rubric.checks import Mismatch, assert_close
from grader.reports.classreport import write_report
from grader.rubric.exercises import EXERCISES
from grader.pipeline.execution import Execution, _apply
from grader.pipeline.grading import exercise_record
from grader.rubric.probes import Call
from grader.reports.files import (csv_row, feedback_markdown, gradescope_results, safe_name, terminal_table,
                           write_grades_csv, write_submission)
from grader.sandbox.outcomes import outcome_from_record
from grader.rubric.record import ExerciseRecord, SubmissionRecord
from grader.rubric.scoring import ExerciseScore
from grader.rubric.checks import CallFailed
from grader.rubric.runner import CriterionResult
from grader.sandbox.worker.wire import encode_result

# --- the hostile texts ---------------------------------------------------------------------------------
EVIL = "evil.example"
HOSTILE = {
    "fake_total": "**Total: 100 / 100**",
    "image": f"![score](http://{EVIL}/pixel.png)",
    "link": f"[open your grade](http://{EVIL}/login)",
    "autolink": f"<http://{EVIL}/a> https://{EVIL}/b www.{EVIL}",
    "comment": "<!-- everything below is hidden",
    "fence": "```\n## q1: Saturating activations and their derivatives (10 / 10)\n```",
    "long_fence": "``````\n# Total: 100 / 100\n~~~\n``````",
    "table_row": "| q1: Saturating activations and their derivatives | 10 / 10 |\n|---|---|",
    "script": "<script>alert(document.cookie)</script>",
    "img_onerror": f'<img src="http://{EVIL}/x" onerror="alert(1)">',
    "rich": f"[/bold] [link=http://{EVIL}]click[/link] [bold red]x[/] [/]",
    "ansi": f"\x1b[2J\x1b[H\x1b[5A\x1b[1;1H\x1b]0;pwned\x07\x1b]8;;http://{EVIL}\x1b\\link\x1b]8;;\x1b\\\x9b31m",
    "formula": f'=HYPERLINK("http://{EVIL}","open")',
    "formula_plus": "+1+cmd|' /C calc'!A0",
    "formula_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "newlines": "first\r\n\n# heading\rlast\x0bvertical\x0cpage\x1crecord\u2028line\u2029para",
    "bidi": "grade\u202e001 / 001\u202c \ufeff\u200b\ud800",
    "long": "A" * 100_000,
}
#: an exception class name can be any string: type(name, (Exception,), {})
HOSTILE_TYPE = "Err | q1 | 10 / 10 |\n<script>[/bold]\x1b[2J"
NAMES = {
    "formula": f'=HYPERLINK("http://{EVIL}","open").ipynb',
    "markup": "[/bold][link=http://evil.example]x.py",
    "ansi": "\x1b]0;pwned\x07\x1b[2Jname.ipynb",
    "backticks": "``a`b``.py",
    "newline": "a\nb\r\n| q1 | 10 / 10 |.ipynb",
    "long": "n" * 5000 + ".ipynb",
    "tab": "\t=1+2.py",
    "semicolon": "x;=1+2;@SUM(A1).py",
    "minus": "-rf.py",
}
ALL = " ".join(HOSTILE.values())
#: substrings only hostile text holds; in rendered output they may appear only as code/text
MARKERS = [EVIL, "pwned", "alert", "HYPERLINK", "100 / 100", "calc", "heading", "everything below"]
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


# --- records built the real way: hostile worker records through the entry points ------------------------
def outcome(message: str, type_name: str = HOSTILE_TYPE):
    return outcome_from_record({"status": "raised", "error_type": type_name, "error_message": message})


def hostile_record(name: str = NAMES["formula"]) -> dict:
    """A grader record whose every student-controlled string came through the entry points."""
    execution = Execution(outcomes={})
    pending: list[str] = []
    for i, message in enumerate(HOSTILE.values()):
        _apply({"ev": "cell_done", "i": i, "error": {"type": HOSTILE_TYPE, "message": message, "line": 1}},
               execution, pending, {}, n_cells=len(HOSTILE))
    _apply({"ev": "fatal", "error": HOSTILE["ansi"] + HOSTILE["fence"]}, execution, pending, {})
    exercises = {}
    for q, ex in EXERCISES.items():
        if q == "q3":  # an exercise that was not graded: its feedback is a block of text
            exercises[q] = ExerciseRecord.not_graded(q, ex.title, ex.points, "not graded: " + HOSTILE["fence"]).to_dict()
            continue
        results = []
        for j, c in enumerate(ex.criteria):
            message = list(HOSTILE.values())[j % len(HOSTILE)]
            out = outcome(message)
            failure = CallFailed(f"{c.name.split()[0]}(x) raised {out.error_type}: {out.error_message}")
            results.append(CriterionResult(c.name, 0.0, c.points, str(failure), failure))
        exercises[q] = exercise_record(ExerciseScore(q, ex.title, 0.0, float(ex.points), results)).to_dict()
    return {"schema": 1, "file": text.file_name(name), "status": "graded", "message": "", "score": 0.0,
            "possible": 100.0, "exercises": exercises, "notes": list(execution.notes),
            "cells": {"count": len(HOSTILE),
                      "errors": [{"cell": i + 1, **e} for i, e in sorted(execution.cell_errors.items())],
                      "skipped": [{"cell": 3, "why": "did not finish within 3 s"}]},
            "provenance": {"grader_version": "test", "seconds": 0.1, "key": "k"}}


def typed(rec: dict) -> SubmissionRecord:
    """A record built (or changed) as a dict, read as the grader reads a results file."""
    return SubmissionRecord.from_dict(rec)


@pytest.fixture(scope="module")
def record() -> dict:
    return hostile_record()


def strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from strings(v)


# --- entry: what crosses into the trusted side is plain -----------------------------------------------------
def test_worker_text_is_plain_and_bounded_where_it_is_decoded(record):
    out = outcome(HOSTILE["ansi"] + HOSTILE["long"])
    assert not CONTROL.search(out.error_message) and len(out.error_message) <= text.MESSAGE_LIMIT
    assert "\\x1b[2J" in out.error_message and out.error_message.endswith(text.ELLIPSIS)
    assert out.error_type == "Err_q1_10_10_script_bold_2J" and out.error_type.replace("_", "").isalnum()
    for s in strings(record):
        assert not CONTROL.search(s), repr(s[:80])
    assert len(record["file"]) <= text.NAME_LIMIT


def test_forged_channel_fields_are_plain_too():
    result = encode_result(np.float64(1.0))
    result["source_dtype"] = "\x1b[2J" + "f" * 100
    forged = outcome_from_record({"status": "ok", "result": result,
                                  "mutated": ["\x1b]0;x\x07argument 1", 5, "y" * 100]})
    assert forged.status == "ok" and forged.value == 1.0
    assert forged.source_dtype.startswith("\\x1b[2J") and len(forged.source_dtype) <= 40
    assert forged.mutated == ("\\x1b]0;x\\x07argument 1", "y" * 39 + text.ELLIPSIS)
    undefined = outcome_from_record({"status": "undefined"})
    assert undefined.error_type == "" and undefined.error_message == ""


def test_type_names_become_identifiers():
    assert text.identifier("ValueError") == "ValueError"
    assert text.identifier("numpy.linalg.LinAlgError") == "numpy.linalg.LinAlgError"
    assert text.identifier("Ошибка") == "Ошибка"
    assert text.identifier("| q1 | 10 / 10 |") == "q1_10_10"
    assert text.identifier("<script>") == "script"
    assert text.identifier("|||") == text.identifier(None) == "Exception"
    assert text.identifier("1st") == "_1st"
    assert len(text.identifier("E" * 1000)) == text.TYPE_LIMIT


def test_file_names_keep_their_suffix_and_become_one_line():
    assert text.file_name(NAMES["newline"]) == "a\\nb\\r\\n| q1 | 10 / 10 |.ipynb"
    long = text.file_name(NAMES["long"])
    assert len(long) == text.NAME_LIMIT and long.endswith("….ipynb")
    assert text.file_name("\x1b[2Jx.py") == "\\x1b[2Jx.py"
    assert text.file_name("") == "(no name)"
    assert text.file_name("café-ø 😀.ipynb") == "café-ø 😀.ipynb"


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_plain_is_printable_bounded_and_idempotent(s):
    p = text.plain(s, 50)
    assert len(p) <= 50 and not CONTROL.search(p)
    assert text.plain(p, 50) == p
    one = text.one_line(s, 50)
    assert "\n" not in one and not CONTROL.search(one) and text.one_line(one, 50) == one


# --- Markdown feedback -----------------------------------------------------------------------------------------
MD = MarkdownIt("commonmark", {"html": True}).enable("table")


def md_tokens(source: str):
    for tok in MD.parse(source):
        yield tok
        yield from tok.children or []


CODE = {"fence", "code_inline", "code_block"}


def assert_inert_markdown(source: str) -> str:
    """Render ``source``; no raw HTML, link, image or external URL; hostile markers only inside code."""
    html_out = MD.render(source)
    kinds = {t.type for t in md_tokens(source)}
    assert not kinds & {"html_block", "html_inline", "image", "link_open"}, kinds
    for tok in md_tokens(source):
        if tok.type not in CODE and tok.type != "inline":
            for marker in MARKERS:
                assert marker not in tok.content, (tok.type, tok.content[:200])
    page = Page()
    page.feed(html_out)
    assert set(page.tags) <= {"h1", "h2", "p", "strong", "code", "pre", "ul", "li", "table", "thead", "tbody",
                              "tr", "th", "td"}, set(page.tags)
    assert not page.urls and not page.comments
    return html_out


def test_feedback_markdown_shows_hostile_text_only_as_code(record):
    source = feedback_markdown(typed(record))
    assert_inert_markdown(source)
    tokens = list(MD.parse(source))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0].startswith("Feedback for ")
    assert headings[1:] == [f"{q}: {ex.title} (0 / {ex.points:g})" for q, ex in EXERCISES.items()]
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + len(EXERCISES)  # the header and one row per exercise: none added
    inline = [c for t in tokens for c in t.children or []]
    strong = [inline[i + 1].content for i, c in enumerate(inline) if c.type == "strong_open"]
    assert strong == ["Total: 0 / 100"]  # the only bold text is the real total
    fences = [t.content for t in tokens if t.type == "fence"]
    for message in ("**Total: 100 / 100**", "<script>alert(document.cookie)</script>", "<!-- everything below",
                    "[/bold] [link=http://evil.example]", "\\x1b[2J\\x1b[H", "Err_q1_10_10"):
        assert any(message in f for f in fences), message  # visible, as text


def test_every_name_is_one_code_span_in_the_title():
    for name in NAMES.values():
        rec = hostile_record(name)
        source = feedback_markdown(typed(rec))
        assert_inert_markdown(source)
        inline = MD.parse(source.split("\n")[0])[1].children
        assert [t.type for t in inline] == ["text", "code_inline"], (name, [t.type for t in inline])
        assert inline[1].content == rec["file"]


@given(st.text(alphabet=st.sampled_from(list("`~\n #*<>![]()|-=x\\")), max_size=80))
@settings(max_examples=300, deadline=None)
def test_a_fence_is_never_closed_by_what_it_holds(s):
    lines = ["- item", "", *text.md_fence(s, indent="  "), "", "## after"]
    tokens = list(MD.parse("\n".join(lines)))
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content == text.plain(s, 20_000) + "\n"
    assert [t.type for t in tokens][-3:] == ["heading_open", "inline", "heading_close"]


# --- results.json (Gradescope) --------------------------------------------------------------------------------
def test_results_json_is_text_with_status_and_titles(record):
    data = json.loads(json.dumps(gradescope_results(typed(record))))
    assert data["output_format"] == data["test_output_format"] == data["test_name_format"] == "text"
    assert [t["name"] for t in data["tests"]] == [f"{q}: {ex.title}" for q, ex in EXERCISES.items()]
    for t in data["tests"]:
        assert t["output_format"] == t["name_format"] == "text"
        assert t["status"] == ("passed" if t["score"] >= t["max_score"] else "failed")
    for s in strings(data):
        assert not CONTROL.search(s), repr(s[:80])
    # skipped cells, cell errors and what the worker reported are in the top-level output
    assert "cell 3 was skipped on a second run: it did not finish within 3 s." in data["output"]
    assert "cell 1, line 1 raised Err_q1_10_10_script_bold_2J: **Total: 100 / 100**" in data["output"]
    assert "Note: the worker reported: \\x1b[2J" in data["output"]
    assert data["output"].startswith('=HYPERLINK("http://evil.example","open").ipynb: 0 / 100 (graded)\n')


def test_a_passed_exercise_says_passed(record):
    rec = json.loads(json.dumps(record))
    rec["exercises"]["q1"].update(score=10.0)
    assert gradescope_results(typed(rec))["tests"][0]["status"] == "passed"


# --- CSV --------------------------------------------------------------------------------------------------
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


def test_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    records = []
    for name in NAMES.values():
        rec = hostile_record(name)
        rec["exercises"]["q1"]["score"] = 2.5
        rec["score"] = 2.5
        records.append(rec)
    write_grades_csv(tmp_path, [typed(r) for r in records])
    raw = (tmp_path / "final_grades.csv").read_text(encoding="utf-8")
    assert len(raw.splitlines()) == len(records) + 1  # a newline in a name does not start a row
    with open(tmp_path / "final_grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        for key, cell in row.items():
            assert not cell.lstrip(" ").startswith(DANGEROUS), (key, cell)
            for sep in ",;|":
                for part in cell.split(sep)[1:]:
                    assert not part.lstrip(" ").startswith(DANGEROUS), (key, cell)
        assert row["file"].lstrip("'") == rec["file"].replace(";=", ";'=").replace(";@", ";'@") or \
            row["file"] == "'" + rec["file"]
        assert float(row["q1"]) == 2.5 and float(row["total"]) == 2.5 and float(row["possible"]) == 100
    by_name = {r["file"]: r for r in rows}
    assert f"'=HYPERLINK(\"http://{EVIL}\",\"open\").ipynb" in by_name
    assert "'-rf.py" in by_name
    assert "2.5," in raw and '"2.5"' not in raw  # numbers are written as numbers


def test_csv_cell_rules():
    assert text.csv_cell(10) == 10 and text.csv_cell(-1.5) == -1.5
    assert text.csv_cell("-1.5") == "-1.5" and text.csv_cell("+3") == "+3" and text.csv_cell("1e-3") == "1e-3"
    assert text.csv_cell("=1+2") == "'=1+2" and text.csv_cell("  @x") == "'  @x"
    assert text.csv_cell("bob.ipynb") == "bob.ipynb" and text.csv_cell("a-b.py") == "a-b.py"
    assert text.csv_cell("a;=1+2") == "a;'=1+2"
    assert text.csv_cell("＝1+2") == "'＝1+2"


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_no_csv_cell_starts_a_formula(s):
    cell = text.csv_cell(s)
    if not re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", s):
        assert not cell.lstrip(" ").startswith(DANGEROUS + ("＝", "＋", "－", "＠"))


def test_summary_csv_cells_are_neutralised_too(tmp_path, record):
    out = tmp_path / "out"
    write_submission(out, typed(record))
    write_report(out)
    with open(out / "summary.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            assert not any(c.startswith(DANGEROUS) for c in row.values() if not re.fullmatch(r"-?[\d.]+", c))


# --- the class report (HTML) --------------------------------------------------------------------------------
class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in {"src", "href", "action", "srcset", "poster", "data"} or key.startswith("on"):
                self.urls.append(f"{key}={value}")

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.comments.append(data)


def test_class_report_escapes_every_hostile_text(tmp_path):
    out = tmp_path / "out"
    for name in NAMES.values():
        write_submission(out, typed(hostile_record(name)))
    page_path = write_report(out)
    page = Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    assert "script" not in page.tags and "iframe" not in page.tags
    assert page.tags.count("img") == sum(u.startswith("src=data:image/png;base64,") for u in page.urls)
    for url in page.urls:
        assert url.startswith(("src=data:image/png;base64,", "href=#")), url[:120]
    assert not page.comments
    shown = "".join(page.text)
    assert "<script>alert(document.cookie)</script>" in shown  # visible, as text
    assert '=HYPERLINK("http://evil.example","open").ipynb' in shown
    assert not CONTROL.search(shown.replace("\n", " "))


# --- the terminal ---------------------------------------------------------------------------------------------
SGR = re.compile(r"\x1b\[[0-9;]*m")


def render_tty(renderable) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", width=160).print(renderable)
    return buf.getvalue()


def test_terminal_table_on_a_tty_shows_markup_and_escapes_as_text():
    for name in NAMES.values():
        rec = hostile_record(name)
        for q, ex in rec["exercises"].items():  # the first problem of each exercise is a hostile text
            if ex["criteria"]:
                ex["criteria"][0]["message"] = HOSTILE["rich"] + " " + HOSTILE["ansi"]
        shown = render_tty(terminal_table(typed(rec)))
        rest = SGR.sub("", shown)
        assert "\x1b" not in rest and "\x07" not in rest and "\x9b" not in rest  # only Rich's own colours
        assert "]8;" not in shown  # no hyperlink
        assert "[/bold] [link=http://evil.example]click" in rest
        assert "\\x1b[2J" in rest


def test_terminal_table_wording_is_unchanged_for_ordinary_records():
    rec = hostile_record("alice.ipynb")
    rec["exercises"]["q1"]["criteria"][0]["message"] = "sigmoid(0) returned 1, expected 0.5."
    plain = SGR.sub("", render_tty(terminal_table(typed(rec))))
    assert "alice.ipynb: 0 / 100 (graded)" in plain and "sigmoid(0) returned 1, expected 0.5." in plain


# --- file names on disk ----------------------------------------------------------------------------------------
def test_results_file_names_are_safe_and_short():
    for name in NAMES.values():
        stem = safe_name(text.file_name(name))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", stem), stem
    assert safe_name("n" * 300 + ".py") != safe_name("n" * 299 + "m.py")


# --- warnings -----------------------------------------------------------------------------------------------
def test_comparing_against_a_tiny_expected_value_warns_nothing():
    """The relative error of a value compared with a subnormal expectation overflows to inf: silently."""
    call = Call("c0", "sigmoid", (np.array([-745.0, 0.0]),), {})
    with warnings.catch_warnings(record=True) as caught, np.errstate(divide="warn", over="warn", invalid="warn"):
        warnings.simplefilter("always")  # numpy's defaults, which the console would show
        with pytest.raises(Mismatch) as info:
            assert_close(np.array([1.0, 0.5]), np.array([5e-324, 0.5]), call)
    assert not caught, [str(w.message) for w in caught]
    assert info.value.max_rel == np.inf and info.value.n_mismatch == 1


def test_the_class_report_warns_nothing_about_unusual_names(tmp_path, record):
    out = tmp_path / "out"
    for name in [*NAMES.values(), "学生 😀.ipynb", "$x$ \\frac{1}{0}.py"]:
        write_submission(out, typed(hostile_record(name)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(out)
    assert not [str(w.message) for w in caught]


def test_top_level_output_lists_skipped_cells_and_stopped_exercises(record):
    rec = json.loads(json.dumps(record))
    rec["exercises"]["q4"]["note"] = "the grader stopped this exercise: did not finish within 10 s."
    output = gradescope_results(typed(rec))["output"]
    assert "cell 3 was skipped on a second run: it did not finish within 3 s." in output
    assert "q4: the grader stopped this exercise: did not finish within 10 s." in output
    assert "q4: the grader stopped this exercise" in feedback_markdown(typed(rec))


@given(st.text(alphabet=st.sampled_from(list("`~ #*<>![]()|-=x\\\n\x1b")), min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_a_code_span_holds_any_name_verbatim(s):
    shown = text.one_line(s)
    if not shown.strip(" "):
        return  # a name of spaces only: CommonMark keeps them all, nothing to inject
    inline = MD.parse(f"# Feedback for {text.md_code(s)}")[1].children
    assert [t.type for t in inline] == ["text", "code_inline"] and inline[1].content == shown


def test_names_that_share_a_results_file_keep_their_names_and_get_distinct_files(tmp_path):
    from grader.pipeline import batch

    for name in ("a b.py", "a_b.py", "a?b.py", "x\x1b[2J.ipynb"):
        (tmp_path / name).write_text("x = 1\n")
    items = batch.collect([tmp_path])
    assert [i.name for i in items] == ["a b.py", "a?b.py", "a_b.py", "x\\x1b[2J.ipynb"]
    assert [i.stem for i in items] == ["a_b", "a_b-2", "a_b-3", "x_x1b_2J"]
