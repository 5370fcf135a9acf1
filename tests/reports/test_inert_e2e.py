"""Hostile texts the real way: notebooks whose cells and functions raise them, named like formulas.

``activation-grader grade`` runs on a pseudo-terminal (so Rich draws its progress bar and colours
as for an instructor) and every output is read back: the terminal, final_grades.csv, results/,
feedback/ (rendered as Markdown) and the class report (parsed as HTML).
"""
from __future__ import annotations

import csv
import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.reports.files import safe_name

from conftest import ROOT, SAMPLES
from test_inert import CONTROL, DANGEROUS, HOSTILE, HOSTILE_TYPE, Page, assert_inert_markdown, strings

FORMULA = '=HYPERLINK("http:/evil.example","open")\x1b]0;pwned\x07.ipynb'
MARKUP = "[/bold]\x1b[2J[link=http:x]y.py"
LONG = "n" * 240 + ".ipynb"  # a results file named after it would be too long for the file system
#: what a terminal would obey if it ever reached it raw
RAW = ["\x1b[2J", "\x1b[H", "\x1b[5A", "\x1b[1;1H", "\x1b]0;", "\x1b]8;", "\x07", "\x9b"]
#: what Rich itself writes on a TTY: colours, its live progress display, the cursor
RICH = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r")

ANSWERS = '''
import numpy as np
def collapse_affine(W1, b1, W2, b2):
    return W2 @ W1, W2 @ b1 + b2
'''


def hostile_cells() -> list[str]:
    cells = [f"raise Exception({message!r})" for message in HOSTILE.values()]
    cells.append(f"raise type({HOSTILE_TYPE!r}, (Exception,), {{}})('a class name with a table row')")
    everything = " ".join(v for k, v in HOSTILE.items() if k != "long")
    cells.append(ANSWERS + f'''
MESSAGE = {everything!r}
RICH, ANSI = {HOSTILE["rich"]!r}, {HOSTILE["ansi"]!r}
Hostile = type({HOSTILE_TYPE!r}, (Exception,), {{}})
def sigmoid(x):
    raise Hostile(MESSAGE)
def softmax(z, axis=-1):
    raise ValueError(MESSAGE)
def xavier_variance(n_in, n_out):
    raise ValueError(RICH + ANSI)
def he_variance(n_in):
    return MESSAGE
''')
    return cells


def write_class(root: Path) -> dict[str, Path]:
    """The submissions, by the display name the grader gives them (relative to ``root``)."""
    files = {FORMULA: root / FORMULA, MARKUP: root / MARKUP, LONG: root / LONG,
             "empty.ipynb": root / "empty.ipynb", "not_json.ipynb": root / "not_json.ipynb",
             "not_a_notebook.ipynb": root / "not_a_notebook.ipynb", "too_large.ipynb": root / "too_large.ipynb"}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in hostile_cells()]), str(files[FORMULA]))
    files[MARKUP].write_text("\n# %%\n".join(hostile_cells()), encoding="utf-8")
    files[LONG].write_bytes((SAMPLES / "bob_partly_wrong.ipynb").read_bytes())
    files["empty.ipynb"].write_bytes(b"")
    files["not_json.ipynb"].write_bytes(b"PNG here, not a notebook {")
    files["not_a_notebook.ipynb"].write_text('{"cells": "<script>alert(1)</script>"}')
    # saved outputs no longer count (dropped before any limit): too many cells still make it too large
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1") for _ in range(10_001)]), str(files["too_large.ipynb"]))
    return files


def run_on_tty(args: list[str], cwd: Path, home: Path) -> tuple[int, str, str]:
    """Run ``args`` with stdout and stderr on two pseudo-terminals; (exit status, stdout, stderr)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "160", "LINES": "50",
           "TERM": "xterm-256color", "HOME": str(home)}
    masters, slaves = zip(*(pty.openpty() for _ in range(2)))
    chunks: dict[int, list[bytes]] = {fd: [] for fd in masters}

    def drain(fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the other side is closed
                return
            if not data:
                return
            chunks[fd].append(data)

    threads = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in masters]
    for t in threads:
        t.start()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slaves[0], stderr=slaves[1], cwd=cwd, env=env)
    for fd in slaves:
        os.close(fd)
    try:
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    for t in threads:
        t.join(timeout=30)
    for fd in masters:
        os.close(fd)
    out, err = (b"".join(chunks[fd]).decode("utf-8", "replace") for fd in masters)
    return code, out, err


def assert_terminal_inert(shown: str) -> str:
    for seq in RAW:
        assert seq not in shown, (seq, shown[:2000])
    rest = RICH.sub("", shown)
    assert "\x1b" not in rest, rest[max(0, rest.find("\x1b") - 200):rest.find("\x1b") + 200]
    return rest


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("inert")
    files = write_class(work / "class")
    out = work / "out"
    code, stdout, stderr = run_on_tty([sys.executable, "-m", "grader", "grade", str(work / "class"), "--out",
                                       str(out), "--jobs", "2", "--seed", "3"], ROOT, work)
    return files, out, code, stdout, stderr


def test_the_batch_exits_0_and_its_terminal_output_is_inert(graded):
    files, out, code, stdout, stderr = graded
    assert code == 0, stderr
    assert_terminal_inert(stdout)
    err = assert_terminal_inert(stderr)
    assert "grading" in err and f"{len(files)}/{len(files)}" in err  # the progress bar ran, on a TTY
    assert "Warning" not in err and "warn" not in err.lower(), err  # no library warning reached the console
    assert f"{len(files)} submission(s)" in RICH.sub("", stdout)


def test_every_submission_has_a_neutral_csv_row(graded):
    files, out, *_ = graded
    with open(out / "final_grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert len(rows) == len(files)
    for row in rows.values():
        for key, cell in row.items():
            assert not cell.startswith(DANGEROUS), (key, cell)
            assert not CONTROL.search(cell)
        float(row["total"])
    formula = rows["'" + FORMULA.replace("\x1b", "\\x1b").replace("\x07", "\\x07")]
    assert float(formula["q3"]) == 8 and float(formula["total"]) == 8  # the hostile text took no points
    assert rows[MARKUP.replace("\x1b", "\\x1b")]["q3"] == "8"
    long = rows["n" * (160 - len("….ipynb")) + "….ipynb"]  # shortened, keeping its suffix; graded
    assert long["status"] == "graded" and float(long["total"]) > 0
    for name in ("empty.ipynb", "not_json.ipynb", "not_a_notebook.ipynb", "too_large.ipynb"):
        assert rows[name]["status"] in {"invalid-notebook", "too-large"} and float(rows[name]["total"]) == 0


def test_results_json_for_every_submission_is_text(graded):
    files, out, *_ = graded
    results = {json.loads(p.read_text())["extra_data"]["file"]: json.loads(p.read_text())
               for p in (out / "results").glob("*.json")}
    assert len(results) == len(files)
    for name, data in results.items():
        assert data["output_format"] == data["test_output_format"] == "text"
        assert [t["name"].split(":")[0] for t in data["tests"]] == [f"q{i}" for i in range(1, 11)]
        assert all(t["status"] in {"passed", "failed"} and t["output_format"] == "text" for t in data["tests"])
        for s in strings(data):
            assert not CONTROL.search(s), (name, repr(s[:100]))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", safe_name(name))
    hostile = results[FORMULA.replace("\x1b", "\\x1b").replace("\x07", "\\x07")]
    assert "raised Err_q1_10_10_script_bold_2J: a class name with a table row" in hostile["output"]
    assert "<script>alert(document.cookie)</script>" in hostile["output"]  # shown as text, Gradescope escapes it
    messages = {name: results[name]["output"] for name in
                ("empty.ipynb", "not_json.ipynb", "not_a_notebook.ipynb", "too_large.ipynb")}
    assert "the file is empty" in messages["empty.ipynb"]
    assert "not valid JSON" in messages["not_json.ipynb"] and "download it again" in messages["not_json.ipynb"]
    assert "not a Jupyter notebook" in messages["not_a_notebook.ipynb"]
    assert "over the limit" in messages["too_large.ipynb"] and "merge cells" in messages["too_large.ipynb"]
    for name in messages:
        assert results[name]["score"] == 0 and all(t["status"] == "failed" for t in results[name]["tests"])


def test_feedback_renders_hostile_text_only_as_code(graded):
    files, out, *_ = graded
    feedback = list((out / "feedback").glob("*.md"))
    assert len(feedback) == len(files)
    for path in feedback:
        assert_inert_markdown(path.read_text(encoding="utf-8"))


def test_class_report_has_no_script_and_fetches_nothing(graded):
    files, out, *_ = graded
    page = Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert "script" not in page.tags
    assert all(u.startswith(("src=data:image/png;base64,", "href=#")) for u in page.urls)
    assert "[/bold]\\x1b[2J[link=http:x]y.py" in "".join(page.text)


def test_one_hostile_notebook_prints_its_table_on_a_tty(graded, tmp_path):
    files, *_ = graded
    code, stdout, stderr = run_on_tty([sys.executable, "-m", "grader", "grade", str(files[FORMULA]), "--out",
                                       str(tmp_path / "one"), "--seed", "3"], ROOT, tmp_path)
    assert code == 0, stderr
    shown = assert_terminal_inert(stdout)
    assert_terminal_inert(stderr)
    # the file's own name, its escape sequence visible as text; the first problems show markup as written
    assert 'evil.example","open")\\x1b]0;pwned\\x07.ipynb: 8 / 100 (graded)' in shown
    assert "raised ValueError: [/bold]" in shown and "[link=http://evil.example]click[/link]" in shown
    assert "q10: " in shown and "8 / 8" in shown
    assert not RICH.sub("", stderr).strip(), stderr  # nothing on stderr: no warning


def test_grading_and_reporting_warn_nothing(graded, tmp_path):
    """Numpy's and matplotlib's warnings, as the console would show them, from the trusted side's own work."""
    import warnings

    import numpy as np

    from grader.reports.classreport import write_report
    from grader.pipeline.grading import grade
    from grader.pipeline.tasks import Options
    from grader.pipeline.warm import close_workers
    from grader.rubric.record import SubmissionRecord
    from grader.reports.files import write_submission
    from grader.sandbox.process import Limits

    from variants import VARIANTS

    files, *_ = graded
    wrong = [v for v in VARIANTS if v.name.startswith("wrong")]
    for v in wrong:
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / v.name).write_text(v.source())
    paths = [files[FORMULA], files[MARKUP], *[tmp_path / "in" / v.name for v in wrong], *sorted(SAMPLES.glob("*.ipynb"))]
    options = Options(seed=11, limits=Limits(timeout=30, step_timeout=5)).to_dict()
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(divide="warn", over="warn",
                                                                         invalid="warn"):
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=ResourceWarning)  # never shown by default
            for path in paths:
                record = grade({"name": path.name, "content": path.read_bytes(), "options": options})
                write_submission(tmp_path, SubmissionRecord.from_dict(record))
            write_report(tmp_path)
    finally:
        close_workers()
    assert not [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught]


def test_a_class_report_failure_is_a_warning_and_the_exit_status_stays_0(graded, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import grader.reports.classreport
    from grader.interfaces.cli import main

    def broken(out_dir):
        raise OSError("[/bold] disk full \x1b[2J")

    monkeypatch.setattr(grader.reports.classreport, "write_report", broken)
    files, *_ = graded
    result = CliRunner().invoke(main, ["grade", str(files[MARKUP]), "--out", str(tmp_path), "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Warning: the class report could not be written (OSError: [/bold] disk full \\x1b[2J)" in \
        " ".join(result.output.split())
    assert "activation-grader report" in result.output and (tmp_path / "final_grades.csv").is_file()
