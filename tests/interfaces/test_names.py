"""Names students keep: the CSV, the results and the feedback show each submission's own path
(relative to the folder given), whatever its output files are called; names that reduce to the
same file stem (``a b.ipynb`` and ``a_b.ipynb``) differ in their output files only."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat

from conftest import ROOT
from variants import SOLUTION, derive

CLI = [sys.executable, "-m", "grader"]
SOURCE = SOLUTION.read_text()


def notebook(source: str) -> str:
    cells = [nbformat.v4.new_code_cell(c.strip()) for c in source.split("# %%") if c.strip()]
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells))


def test_colliding_names_keep_their_own_name_everywhere_but_in_file_names(tmp_path):
    subs = tmp_path / "subs"
    (subs / "sec 1").mkdir(parents=True)
    (subs / "a b.ipynb").write_text(notebook(SOURCE))  # right
    (subs / "a_b.ipynb").write_text(notebook(derive(SOURCE, (("return s * (1.0 - s)", "return s"),))))  # q1 wrong
    (subs / "sec 1" / "a_b.py").write_text("")  # blank
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, "grade", str(subs), "--out", str(out), "--seed", "3", "--jobs", "2", "-q"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with open(out / "final_grades.csv", newline="") as f:
        table = {r["file"]: float(r["total"]) for r in csv.DictReader(f)}
    assert list(table) == ["a b.ipynb", "a_b.ipynb", "sec 1/a_b.py"]  # the "a_b~2.ipynb" is gone
    assert table["a b.ipynb"] == 100 and 80 < table["a_b.ipynb"] < 100 and table["sec 1/a_b.py"] == 0
    stems = {"a b.ipynb": "a_b", "a_b.ipynb": "a_b-2", "sec 1/a_b.py": "sec_1_a_b"}
    for name, stem in stems.items():
        result = json.loads((out / "results" / f"{stem}.json").read_text())
        assert result["extra_data"]["file"] == name and result["score"] == table[name]
        assert result["output"].startswith(f"{name}: {table[name]:g} / 100")
        assert (out / "feedback" / f"{stem}.md").read_text().startswith(f"# Feedback for `{name}`")
    assert sorted(p.stem for p in (out / "results").iterdir()) == sorted(stems.values())
    for name, stem in stems.items():  # the similarity report's code files: the same stems, the same names
        assert json.loads((out / "code" / f"{stem}.json").read_text())["file"] == name
    from grader.reports.classreport.similarity import _code

    assert _code(out, "a b.ipynb", "q1").code != _code(out, "a_b.ipynb", "q1").code  # each finds its own
    report = (out / "report.html").read_text()
    assert "a b.ipynb" in report and "a_b.ipynb" in report and "~2" not in report


def test_the_same_name_under_two_inputs_starts_one_folder_up(tmp_path):
    from grader.pipeline.submissions import collect

    for section in ("sec1", "sec2"):
        (tmp_path / section).mkdir()
        (tmp_path / section / "hw.ipynb").write_text("{}")
        (tmp_path / section / f"{section}_only.py").write_text("")
    items = collect([tmp_path / "sec1", tmp_path / "sec2"])
    assert [(i.name, i.stem) for i in items] == [("sec1/hw.ipynb", "sec1_hw"), ("sec1_only.py", "sec1_only"),
                                                 ("sec2/hw.ipynb", "sec2_hw"), ("sec2_only.py", "sec2_only")]
