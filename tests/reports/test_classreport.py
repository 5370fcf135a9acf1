"""The class report: numbers, failure groups, page structure, images, escaping."""
from __future__ import annotations

import base64
import csv
import io
import json
import random
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.reports.classreport import normalise_message, write_report
from grader.rubric.record import SubmissionRecord
from grader.reports.files import gradescope_results, safe_name

# --- synthetic records -------------------------------------------------------------------------------
EXERCISES = {
    "q1": ("Saturating activations", [("sigmoid matches", 6.0), ("sigmoid is finite", 4.0)]),
    "q4": ("Numerically stable softmax", [("softmax matches", 5.0), ("softmax is finite for large logits", 5.0)]),
    "q7": ("Initialisation variances", [("xavier_variance matches", 8.0)]),
}
SCORED = {"graded", "timeout"}

NAN_HINT = "rewrite the formula so that exp() never gets a large positive argument."


def nan_message(v: float) -> str:
    return (f"softmax([{v:g}. {v - 1:g}. {v - 2:g}.]) returned nan at z = {v:g} (3 of 3 elements are nan or inf)."
            f"\n  Hint: {NAN_HINT}")


def undefined(name: str) -> str:
    return f"{name} is not defined.\n  Hint: define `{name}` at the top level of a code cell, with exactly this name."


def mismatch(call: str, got: float) -> str:
    return (f"{call}: 1 of 1 elements differ from the expected values (rtol=1e-07, atol=1e-10).\n"
            f"  Max absolute difference: {got / 3:.3g}: expected {got / 2:.10g}, got {got:.10g}.\n"
            "  Max relative difference: 1.")


def make_record(file: str, fails: dict[tuple[str, str], str] | None = None, *, status: str = "graded",
                message: str = "", exercises: dict = EXERCISES, cell_errors: list | None = None) -> dict:
    """A grader record: every criterion passes except those in ``fails`` ((q, criterion) -> message)."""
    fails = fails or {}
    out, total = {}, 0.0
    for q, (title, criteria) in exercises.items():
        points = sum(p for _, p in criteria)
        if status not in SCORED:
            out[q] = {"title": title, "score": 0.0, "max_score": points, "feedback": f"not graded: {message}",
                      "criteria": []}
            continue
        crit = []
        for name, p in criteria:
            msg = fails.get((q, name))
            crit.append({"name": name, "points": 0.0 if msg else p, "max_points": p, "message": msg or "",
                         "kind": ("CallFailed" if "not defined" in msg or "did not finish" in msg else "Mismatch")
                         if msg else None})
        score = sum(c["points"] for c in crit)
        total += score
        out[q] = {"title": title, "score": score, "max_score": points, "feedback": "", "criteria": crit}
    possible = sum(sum(p for _, p in c) for _, c in exercises.values())
    return {"schema": 1, "file": file, "status": status, "message": message, "score": total, "possible": possible,
            "exercises": out, "cells": {"count": 3, "errors": cell_errors or [], "skipped": []}, "notes": [],
            "provenance": {"grader_version": "0.1.0+test", "seconds": 0.1}}


def write_records(out_dir: Path, records: list[dict]) -> Path:
    results = out_dir / "results"
    results.mkdir(parents=True, exist_ok=True)
    for r in records:
        (results / f"{safe_name(r['file'])}.json").write_text(json.dumps(gradescope_results(SubmissionRecord.from_dict(r))), encoding="utf-8")
    return out_dir


def known_class() -> list[dict]:
    """Five graded or timed-out submissions and two that were not graded; numbers worked out by hand below."""
    slow = "softmax(<array (3, 4)>) did not finish in time: the call took more than 10 s"
    return [
        make_record("alice.ipynb"),                                                     # 28
        make_record("bob.ipynb", {("q4", "softmax is finite for large logits"): nan_message(1000)}),   # 23
        make_record("carol.ipynb", {("q4", "softmax is finite for large logits"): nan_message(700),
                                    ("q1", "sigmoid matches"): mismatch("sigmoid(-3.2)", 0.9)}),     # 17
        make_record("dave.ipynb", {("q4", "softmax matches"): undefined("softmax"),
                                   ("q4", "softmax is finite for large logits"): undefined("softmax"),
                                   ("q7", "xavier_variance matches"): mismatch("xavier_variance(3, 4)", 0.5)}),  # 10
        make_record("frank.ipynb", {("q4", "softmax matches"): slow,
                                    ("q4", "softmax is finite for large logits"): slow.replace("(3, 4)", "(5,)"),
                                    ("q7", "xavier_variance matches"): undefined("xavier_variance")},
                    status="timeout", message="the submission used up its 60 s; what ran before that is graded."),
        make_record("erin.ipynb", status="invalid-notebook", message="the file is not valid JSON"),
        make_record("gina.ipynb", status="error", message="the grader failed on this submission"),
    ]


# --- reading the page back ---------------------------------------------------------------------------
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr"}
EMITTED = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "section", "div",
           "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "span", "code", "pre",
           "figure", "figcaption", "img", "a", "b"}


class Node:
    def __init__(self, tag: str, attrs: dict):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, **attrs) -> list[Node]:
        out = []
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag and all(_has(c, k, v) for k, v in attrs.items()):
                    out.append(c)
                out.extend(c.find_all(tag, **attrs))
        return out

    def find(self, tag: str, **attrs) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]


def _has(node: Node, key: str, value: str) -> bool:
    key = key.rstrip("_").replace("_", "-")
    if key == "class":
        return value in (node.attrs.get("class") or "").split()
    return node.attrs.get(key) == value


class Page(HTMLParser):
    """A strict little DOM: every tag must be one we emit, and every non-void tag must be closed in order."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]
        self.doctype = False
        self.feed(text)
        self.close()
        assert self.stack == [self.root], f"unclosed: {[n.tag for n in self.stack[1:]]}"

    def handle_decl(self, decl):
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        assert tag in EMITTED, f"unexpected <{tag}>"
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        assert tag in VOID, f"self-closed <{tag}/>"
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        assert tag not in VOID, f"</{tag}>"
        assert len(self.stack) > 1 and self.stack[-1].tag == tag, \
            f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def build(out_dir: Path) -> tuple[Page, str, list[dict]]:
    path = write_report(out_dir)
    assert path == out_dir / "report.html"
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.doctype
    with open(out_dir / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return page, text, rows


def stat(page: Page, key: str) -> str:
    card = page.root.find("div", data_stat=key)
    return card.find("div", class_="v").text()


def groups(page: Page, q: str) -> list[tuple[int, str, list[str], list[str], str]]:
    """(count, pattern, criteria, members, hint) of every failure group of exercise q, in page order."""
    out = []
    for d in page.root.find_all("details", class_="group", data_exercise=q):
        hint = d.find_all("p", class_="hint")
        out.append((int(d.attrs["data-count"]), d.find("code", class_="pattern").text(),
                    [c.text() for c in d.find_all("span", class_="crit")],
                    [li.text() for li in d.find("ul", class_="members").find_all("li")],
                    hint[0].text() if hint else ""))
    return out


def assert_images_are_png(page: Page) -> int:
    from matplotlib.image import imread

    imgs = page.root.find_all("img")
    for img in imgs:
        src = img.attrs["src"]
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(io.BytesIO(data), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    return len(imgs)


# --- the tests ------------------------------------------------------------------------------------------
def test_counts_per_exercise_and_summary_numbers_of_a_known_class(tmp_path):
    page, _, rows = build(write_records(tmp_path, known_class()))
    by_q = {r["exercise"]: r for r in rows}
    assert list(by_q) == ["q1", "q4", "q7"]
    expected = {"q1": ("10", "8.8", "0.8800", "4", "1", "0", "2"),
                "q4": ("10", "4", "0.4000", "1", "2", "2", "2"),
                "q7": ("8", "4.8", "0.6000", "3", "0", "2", "2")}
    for q, (points, mean, fraction, full, partial, zero, not_graded) in expected.items():
        row = by_q[q]
        assert (row["points"], row["mean"], row["mean_fraction"]) == (points, mean, fraction)
        assert (row["full"], row["partial"], row["zero"], row["not_graded"]) == (full, partial, zero, not_graded)
        tr = page.root.find("tr", data_exercise=q)
        for col, value in (("full", full), ("partial", partial), ("zero", zero), ("not_graded", not_graded)):
            assert tr.find("td", data_col=col).text() == value
    assert by_q["q1"]["title"] == "Saturating activations"

    # totals of the five scored submissions: 28, 23, 17, 10, 10 (frank timed out, his points count)
    assert stat(page, "count") == "7"
    assert stat(page, "graded") == "5"
    assert stat(page, "mean") == "17.6"
    assert stat(page, "median") == "17.0"
    assert stat(page, "full-marks") == "1"
    assert stat(page, "not-graded") == "2"
    not_graded = page.root.find("div", data_stat="not-graded")
    assert {li.attrs["data-status"]: li.text() for li in not_graded.find_all("li")} == \
        {"invalid-notebook": "invalid-notebook: 1", "error": "error: 1"}
    partly = page.root.find("div", data_stat="partly-graded")
    assert [li.text() for li in partly.find_all("li")] == ["timeout: 1"]


def test_failures_are_grouped_by_check_and_normalised_message_with_their_members(tmp_path):
    page, _, _ = build(write_records(tmp_path, known_class()))
    q4 = groups(page, "q4")
    # bob and carol hit nan on different logits: one group, with the hint as its explanation
    count, pattern, criteria, members, hint = q4[0]
    assert (count, criteria, members) == (2, ["softmax is finite for large logits"], ["bob.ipynb", "carol.ipynb"])
    assert pattern == "softmax(…) returned nan at z = # (# of # elements are nan or inf)."
    assert NAN_HINT in hint
    rest = {(p, tuple(c), tuple(m)) for _, p, c, m, _ in q4[1:]}
    # the same message on both checks is shown once, naming both checks
    assert rest == {("softmax is not defined.", ("softmax matches", "softmax is finite for large logits"),
                     ("dave.ipynb",)),
                    ("softmax(…) did not finish in time: the call took more than # s",
                     ("softmax matches", "softmax is finite for large logits"), ("frank.ipynb",))}
    assert [(c, m) for c, _, _, m, _ in groups(page, "q1")] == [(1, ["carol.ipynb"])]
    q7 = {p: m for _, p, _, m, _ in groups(page, "q7")}
    assert q7 == {"xavier_variance(…): # of # elements differ from the expected values (rtol=#, atol=#).":
                  ["dave.ipynb"], "xavier_variance is not defined.": ["frank.ipynb"]}
    # not-graded submissions are in no group, but in the problems table, as is the timed-out one
    problems = {tr.find_all("td")[0].text(): tr.attrs["data-status"]
                for tr in page.root.find_all("tr", class_="problem")}
    assert problems == {"erin.ipynb": "invalid-notebook", "gina.ipynb": "error", "frank.ipynb": "timeout"}


def test_failure_groups_are_the_same_whatever_the_order_and_the_most_common_comes_first(tmp_path):
    records = [make_record(f"s{i:02d}.ipynb", {("q4", "softmax is finite for large logits"): nan_message(900 + i)})
               for i in range(23)]
    records += [make_record("t.ipynb", {("q4", "softmax matches"): mismatch("softmax(<array (2, 3)>, axis=0)", 0.3)})]
    random.Random(1).shuffle(records)
    page, _, _ = build(write_records(tmp_path, records))
    q4 = groups(page, "q4")
    assert [(c, len(m)) for c, _, _, m, _ in q4] == [(23, 23), (1, 1)]
    assert q4[0][3] == sorted(f"s{i:02d}.ipynb" for i in range(23))
    summary = page.root.find("details", class_="group", data_exercise="q4").find("summary").text()
    assert summary.startswith("23 students")


def test_one_cause_on_several_checks_is_one_group_counting_students_per_check(tmp_path):
    gone = undefined("softmax")
    both = {("q4", "softmax matches"): gone, ("q4", "softmax is finite for large logits"): gone}
    records = [make_record("a.ipynb", both),
               make_record("b.ipynb", {("q4", "softmax matches"): gone}),
               make_record("c.ipynb", {("q4", "softmax is finite for large logits"): nan_message(1e4)})]
    page, _, _ = build(write_records(tmp_path, records))
    q4 = groups(page, "q4")
    nan = "softmax(…) returned nan at z = # (# of # elements are nan or inf)."
    # a mistake comes before what was not attempted, even when fewer students made it
    assert [(c, p, m) for c, p, _, m, _ in q4] == [(1, nan, ["c.ipynb"]),
                                                   (2, "softmax is not defined.", ["a.ipynb", "b.ipynb"])]
    assert q4[1][2] == ["softmax matches", "softmax is finite for large logits"]
    found = page.root.find_all("details", class_="group", data_exercise="q4")
    assert [d.attrs["data-cause"] for d in found] == ["mistake", "not-attempted"]
    assert found[1].find("b", class_="cause").text() == \
        "not attempted: softmax not defined, returning None or raising NotImplementedError"
    assert found[1].find("span", class_="checks").text() == \
        "2 checks: softmax matches (2) · softmax is finite for large logits (1)"


@pytest.mark.parametrize("message, expected", [
    ("softmax([1000.  999.  998.]) returned nan at z = 1000 (3 of 3 elements are nan or inf).",
     "softmax(…) returned nan at z = # (# of # elements are nan or inf)."),
    ("sigmoid(-5.79551062) with x of shape (), normal with std 4 raised RuntimeError: boom\n  (4 more ...)",
     "sigmoid(…) with x of shape (…), normal with std # raised RuntimeError: boom"),
    ("relu_derivative(<array (3, 4)>) returned shape (12,), expected (3, 4).",
     "relu_derivative(…) returned shape (…), expected (…)."),
    ("prelu(<array (20,)>, 0.25) modified its input argument 0 in place.",
     "prelu(…) modified its input argument # in place."),
    ("collapse_affine(<array (8, 5)>, b1) with d=5 inputs (W1 8x5, W2 7x8) raised ValueError: matmul",
     "collapse_affine(…, b1) with d=# inputs (W1 #x#, W2 #x#) raised ValueError: matmul"),
    ("softmax([ 0.1,  2.5, -3. ,\n  4. ]) with z of shape (4,): 1 of 4 elements differ\n  Max ...",
     "softmax(…) with z of shape (…): # of # elements differ"),
    ("glu(a, b) raised ValueError: operands could not be broadcast together with shapes (3,4) (4,3) ",
     "glu(a, b) raised ValueError: operands could not be broadcast together with shapes (…) (…)"),
    ("softmax([[1e+04, -1e+04], [nan, inf]], axis=0) returned nan", "softmax([…], axis=#) returned nan"),
    ("float64 log1p q10 x2 is not defined.", "float64 log1p q10 x2 is not defined."),
    ("<function f at 0x7f3a2b>", "<function f at #>"),
    ("", ""),
])
def test_messages_are_normalised_to_their_first_line_without_numbers_shapes_or_values(message, expected):
    assert normalise_message(message) == expected


def test_page_is_well_formed_and_every_image_is_a_png(tmp_path):
    page, text, _ = build(write_records(tmp_path, known_class()))
    assert text.startswith("<!DOCTYPE html>")
    ids = {img.attrs["id"] for img in page.root.find_all("img")}
    assert ids == {"histogram", "exercise-bars", "heatmap"}
    assert assert_images_are_png(page) == 3
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_no_results_gives_a_page_that_says_so(tmp_path):
    page, _, rows = build(tmp_path)  # no results directory at all
    assert "No results" in page.root.find("p", id="no-results").text()
    assert page.root.find_all("img") == [] and rows == []
    (tmp_path / "results").mkdir()
    page, _, rows = build(tmp_path)
    assert page.root.find_all("p", id="no-results") and rows == []


def test_one_submission(tmp_path):
    page, _, rows = build(write_records(tmp_path, [make_record("solo.ipynb", {("q1", "sigmoid is finite"):
                                                                               undefined("sigmoid")})]))
    assert stat(page, "count") == "1" and stat(page, "mean") == "24.0" and stat(page, "median") == "24.0"
    assert [(r["exercise"], r["full"], r["partial"]) for r in rows] == [("q1", "0", "1"), ("q4", "1", "0"),
                                                                        ("q7", "1", "0")]
    assert assert_images_are_png(page) == 3
    hint = "Hint given: define `sigmoid` at the top level of a code cell, with exactly this name."
    assert groups(page, "q1") == [(1, "sigmoid is not defined.", ["sigmoid is finite"], ["solo.ipynb"], hint)]


def test_one_submission_that_could_not_be_graded(tmp_path):
    page, _, rows = build(write_records(tmp_path, [make_record("x.ipynb", status="too-large", message="too big")]))
    assert stat(page, "graded") == "0" and page.root.find_all("img") == []
    assert all(r["not_graded"] == "1" and r["mean"] == "" for r in rows)
    assert page.root.find("tr", class_="problem").attrs["data-status"] == "too-large"


def test_many_submissions(tmp_path):
    rng = random.Random(7)
    records = []
    for i in range(150):
        fails = {}
        if rng.random() < 0.4:
            fails[("q4", "softmax is finite for large logits")] = nan_message(rng.choice([700, 1000, 1e4]))
        if rng.random() < 0.2:
            fails[("q1", "sigmoid matches")] = mismatch(f"sigmoid({rng.uniform(-5, 5):.4f})", rng.random())
        if rng.random() < 0.1:
            fails[("q7", "xavier_variance matches")] = undefined("xavier_variance")
        status = rng.choice(["graded"] * 20 + ["timeout", "invalid-notebook"])
        records.append(make_record(f"student{i:03d}.ipynb", fails, status=status))
    page, _, rows = build(write_records(tmp_path, records))
    scored = [r for r in records if r["status"] in SCORED]
    assert stat(page, "count") == "150" and stat(page, "graded") == str(len(scored))
    for row in rows:
        counts = [int(row[k]) for k in ("full", "partial", "zero", "not_graded")]
        assert sum(counts) == 150 and counts[3] == 150 - len(scored)
    nan_group = groups(page, "q4")[0]
    assert nan_group[0] == sum(("q4", "softmax is finite for large logits") in _fails(r) for r in scored)
    assert assert_images_are_png(page) == 3
    assert len(page.root.find("section", id="students").find("tbody").find_all("tr")) == 150


def _fails(record: dict) -> set[tuple[str, str]]:
    return {(q, c["name"]) for q, ex in record["exercises"].items() for c in ex["criteria"] if c["points"] == 0}


def test_unreadable_results_files_are_listed_not_fatal(tmp_path):
    write_records(tmp_path, known_class()[:2])
    results = tmp_path / "results"
    (results / "broken.json").write_text("{not json", encoding="utf-8")
    (results / "foreign.json").write_text(json.dumps({"score": 3, "tests": []}), encoding="utf-8")
    (results / "incomplete.json").write_text(json.dumps({"extra_data": {"exercises": {"q1": {}}}}), encoding="utf-8")
    (results / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    page, _, rows = build(tmp_path)
    listed = [li.find("code").text() for li in page.root.find("section", id="unreadable").find_all("li")]
    assert listed == ["binary.json", "broken.json", "foreign.json", "incomplete.json"]
    assert stat(page, "count") == "2" and stat(page, "unreadable") == "4"
    assert [r["full"] for r in rows] == ["2", "1", "2"]


def test_only_unreadable_results_files(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "broken.json").write_text("[]", encoding="utf-8")
    page, _, _ = build(tmp_path)
    assert page.root.find_all("p", id="no-results")
    assert [li.find("code").text() for li in page.root.find_all("li", class_="unreadable")] == ["broken.json"]


def test_hostile_strings_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>.ipynb"
    exercises = {"q1": ("<i>title</i>", [("sigmoid <matches> & more", 10.0)]),
                 'q"><b>': ("x", [("c", 2.0)])}
    records = [
        make_record(evil, {("q1", "sigmoid <matches> & more"): "sigmoid(<img src=x onerror=alert(1)>) raised "
                                                                 "RuntimeError: </pre></details><script>x</script>"},
                    exercises=exercises, cell_errors=[{"cell": 1, "type": "<b>E</b>", "message": "<hr>", "line": 2}]),
        make_record("<img src=x onerror=alert(2)>.py", status="error", message="<iframe src=//evil>",
                    exercises=exercises),
        make_record("$\\frac{1}{$ and $$ .ipynb", exercises=exercises),  # would be mathtext in a matplotlib label
    ]
    page, text, _ = build(write_records(tmp_path, records))  # Page() fails on any tag we did not emit
    for raw in ("<script", "<iframe", "<img src=x", "<i>", "<hr>", "<b>E", '"><b>'):
        assert raw not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.ipynb" in text
    assert evil in [li.text() for li in page.root.find_all("li")]
    assert evil in page.root.find("section", id="students").text()
    assert "<iframe src=//evil>" in page.root.find("section", id="problems").text()
    assert assert_images_are_png(page) == 3


def test_report_reads_results_only_never_feedback_or_submission_files(tmp_path):
    write_records(tmp_path, known_class()[:1])
    (tmp_path / "feedback").mkdir()
    (tmp_path / "feedback" / "mallory.md").write_text("# MARKER-FEEDBACK", encoding="utf-8")
    (tmp_path / "mallory.json").write_text(json.dumps(gradescope_results(SubmissionRecord.from_dict(make_record("MARKER-TOP")))))
    (tmp_path / "results" / "nested").mkdir()
    (tmp_path / "results" / "nested" / "x.json").write_text(json.dumps(gradescope_results(SubmissionRecord.from_dict(make_record("MARKER-SUB")))))
    _, text, _ = build(tmp_path)
    assert "MARKER" not in text


@pytest.mark.slow
def test_grading_a_notebook_writes_the_class_report(tmp_path):
    exe = Path(sys.executable).with_name("activation-grader")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "grader"]
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    done = subprocess.run([*cmd, "grade", str(root / "tests" / "golden" / "solution.py"), "--out", str(out), "-q"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    assert stat(page, "count") == "1" and stat(page, "graded") == "1"
    assert "solution.py" in page.root.find("section", id="students").text()
    assert assert_images_are_png(page) >= 1
    with open(out / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and rows[0]["exercise"] == "q1" and set(rows[0]) == {
        "exercise", "title", "points", "mean", "mean_fraction", "full", "partial", "zero", "not_graded"}


# --- reading thousands of records: the fast paths give what the plain ones give ------------------------------
def test_printable_is_plain_for_text_of_every_kind():
    from hypothesis import given, settings, strategies as st

    from grader.reports.classreport.model import TEXT_LIMIT, Submission, printable
    from grader.core.text import _SUSPECT, plain

    # every character that str.isprintable accepts and plain looks at (astral ones: emoji, rare scripts)
    odd = [chr(c) for c in range(0x110000) if chr(c).isprintable() and _SUSPECT.search(chr(c))]
    assert odd and all(plain(c, TEXT_LIMIT) == c for c in odd)
    cases = ["", "abc", "a\nb", "a\r\nb", "tab\there", "\x1b[2J", "\u202eevil", "x" * TEXT_LIMIT,
             "x" * (TEXT_LIMIT + 1), "emoji 😀\nline", "\u2028", "\ud800", "\u00a0nbsp", "é\n" * 50]
    assert [printable(s) for s in cases] == [plain(s, TEXT_LIMIT) for s in cases]

    @given(st.text(max_size=60) | st.text(alphabet=st.characters(max_codepoint=0x7f), max_size=60))
    @settings(max_examples=300, deadline=None)
    def same(s):
        assert printable(s) == plain(s, TEXT_LIMIT)

    same()
    record = SubmissionRecord.from_dict(make_record("a\x1b.ipynb", {("q1", "sigmoid matches"): "bad\r\n\x07"}))
    assert Submission.of(record) == Submission(record.with_text(lambda s: plain(s, TEXT_LIMIT)))


def test_a_report_given_known_results_is_the_report_that_reads_them(tmp_path):
    from grader.reports.classreport.model import Submission, load_results, printable
    from grader.reports.files import load_record

    records = known_class()
    out = write_records(tmp_path / "a", records)
    (out / "results" / "broken.json").write_text("{not json", encoding="utf-8")
    page = write_report(out).read_bytes()
    paths = sorted((out / "results").glob("*.json"))
    known = {p.name: Submission(load_record(p, printable)) for p in paths[:4] if p.name != "broken.json"}
    assert write_report(out, known=known).read_bytes() == page
    assert load_results(out, known) == load_results(out)
    # what is known is what is shown: the file is not read again
    first = next(iter(known))
    assert load_results(out, {first: Submission(load_record(paths[-1]))})[0] != load_results(out)[0]
