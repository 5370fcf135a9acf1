"""The class report names the mistakes: a class built from the project's known mistakes, graded for real.

Each of the benchmark's ten mistakes (benchmarks/workload.py) is made by 2, 3 or 4 students, each of
the golden variant's four (tests/variants.py) by one more (two of them are benchmark mistakes), and
the issue's ``x * (1 - x)`` for sigmoid_derivative by five; three students did not attempt anything (stubs
that raise NotImplementedError, bodies of ``...`` that return None, another assignment's file). In
report.html each mistake must be the top group of its exercise, keyed by its hint, with exactly its
students; the gates' follow-on lines never form a group; the blanks form one "not attempted" group
per exercise, last; 0 points everywhere is a problem; every criterion has its pass rate.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from reports.test_classreport import VOID, Node
from reports.test_classreport import Page as StrictPage
from variants import SOLUTION, VARIANTS

def _workload():
    """benchmarks/workload.py, loaded by path: benchmarks/ on sys.path would shadow tests' own packages."""
    spec = importlib.util.spec_from_file_location("benchmark_workload", ROOT / "benchmarks" / "workload.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


workload = _workload()

CLI = [sys.executable, "-m", "grader"]
BLANKS = ["blank_dots.py", "blank_stubs.ipynb", "other_assignment.py"]


class Page(StrictPage):
    """The report read back, well-formed, whatever sections it has (similar code adds its own tags)."""

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)


def dots() -> str:
    """Every function of the contract with a body of ``...``: each returns None."""
    names = re.findall(r"^def (\w+\(.*?\)):", SOLUTION.read_text(), re.M)
    return "import numpy as np\n\n" + "\n\n".join(f"def {n}:\n    ..." for n in names) + "\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("class")
    subs = root / "subs"
    subs.mkdir()
    solution = SOLUTION.read_text()
    made: dict[str, list[str]] = {}
    for i, (good, bad) in enumerate(workload.MISTAKES):
        assert solution.count(good) == 1
        made[f"m{i}"] = [f"m{i}_{k}.ipynb" for k in range(2 + i % 3)]
        for name in made[f"m{i}"]:
            (subs / name).write_text(workload.notebook(workload.cells_of(solution.replace(good, bad))))
    wrong = next(v for v in VARIANTS if v.name == "wrong_q3_q5_q7_q10.py")
    for j, edit in enumerate(wrong.edits):  # the same edit as a benchmark mistake is that mistake
        same = [f"m{i}" for i, m in enumerate(workload.MISTAKES) if m == edit]
        made.setdefault(same[0] if same else f"v{j}", []).append(f"v{j}.py")
        (subs / f"v{j}.py").write_text(solution.replace(*edit))
    # the case: sigmoid_derivative as x * (1 - x), by more students than any other mistake of q1
    made["x(1-x)"] = [f"x1x_{k}.py" for k in range(5)]
    for name in made["x(1-x)"]:
        (subs / name).write_text(solution.replace("return s * (1.0 - s)", "return x * (1 - x)"))
    (subs / "blank_dots.py").write_text(dots())
    (subs / "blank_stubs.ipynb").write_text(workload.blank())
    (subs / "other_assignment.py").write_text("import numpy as np\n\n\ndef mean_squared_error(y, t):\n"
                                              "    return np.mean((y - t) ** 2)\n")
    (subs / "correct.ipynb").write_text(workload.notebook(workload.cells_of(solution)))
    out = root / "out"
    proc = subprocess.run([*CLI, "grade", str(subs), "--out", str(out), "--seed", "3", "--jobs", "2", "-q"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return out, made


def page_groups(page: Page) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in page.root.find_all("details", class_="group"):
        if "data-cause" not in d.attrs:  # a failure group, not a similar pair
            continue
        kind = d.find_all("span", class_="kind")
        hint = d.find_all("p", class_="hint")
        out.setdefault(d.attrs["data-exercise"], []).append({
            "count": int(d.attrs["data-count"]), "cause": d.attrs["data-cause"],
            "title": d.find("b", class_="cause").text(), "pattern": d.find("code", class_="pattern").text(),
            "kind": kind[0].text() if kind else "", "hint": hint[0].text() if hint else "",
            "members": [li.text() for li in d.find("ul", class_="members").find_all("li")],
            "checks": [c.text() for c in d.find_all("span", class_="crit")]})
    return out


def test_each_known_mistake_is_a_group_of_its_students_and_the_most_common_tops_its_exercise(graded):
    out, made = graded
    groups = page_groups(Page((out / "report.html").read_text()))
    assert sorted(groups, key=lambda q: int(q[1:])) == [f"q{i}" for i in range(1, 11)]
    found: dict[str, list[int]] = {}
    for key, files in made.items():
        hits = [(q, g) for q, gs in groups.items() for g in gs if g["members"] == files]
        assert hits, f"mistake {key} ({files}) is no group"
        for q, g in hits:
            assert g["cause"] == "mistake" and g["count"] == len(files), (key, q, g)
            assert g["hint"].startswith("Hint given: ") and g["title"] == f"Mistake: {g['hint'][12:]}", (key, g)
            found.setdefault(q, []).append(len(files))
    assert sorted(found, key=lambda q: int(q[1:])) == [f"q{i}" for i in range(1, 11)]
    for q, counts in found.items():  # the most common mistake is the exercise's top group, hence its "most common"
        top = groups[q][0]
        assert top["cause"] == "mistake" and top["count"] == max(counts), (q, top)
    q1 = groups["q1"][0]
    assert q1["members"] == made["x(1-x)"] and "this is x * (1 - x)" in q1["title"]
    table = Page((out / "report.html").read_text()).root.find("tr", data_exercise="q1").text()
    assert "Mistake: this is x * (1 - x)" in table and "(5)" in table


def test_follow_on_lines_never_form_a_group_and_are_folded_into_their_cause(graded):
    out, made = graded
    text = (out / "report.html").read_text()
    page = Page(text)
    groups = page_groups(page)
    for q, gs in groups.items():
        for g in gs:
            assert "not awarded yet" not in g["pattern"] + g["title"], (q, g)
    for row in page.root.find("table", id="exercise-table").find_all("tr")[1:]:
        assert "not awarded yet" not in row.text()
    # sigmoid_derivative's mistake fails its edge criteria through the gate: they are in its group
    q1 = next(g for g in groups["q1"] if g["members"] == made["m0"])
    assert any("is finite and right" in c for c in q1["checks"]), q1["checks"]


def test_blanks_form_one_not_attempted_group_per_exercise_last(graded):
    out, _ = graded
    groups = page_groups(Page((out / "report.html").read_text()))
    for q, gs in groups.items():
        blank = [g for g in gs if g["cause"] == "not-attempted"]
        assert len(blank) == 1 and gs[-1] is blank[0], q
        assert blank[0]["members"] == BLANKS and blank[0]["kind"] == "", q
        assert blank[0]["title"].startswith("not attempted: ")
        for g in gs:  # no None is shown as a wrong shape, nor anywhere but in its group
            assert g["cause"] == "not-attempted" or "NoneType" not in g["pattern"] + g["title"], (q, g)


def test_zero_everywhere_is_a_problem_and_every_criterion_has_its_pass_rate(graded):
    out, made = graded
    page = Page((out / "report.html").read_text())
    problems = {tr.find_all("td")[0].text(): tr.find_all("td")[3].text()
                for tr in page.root.find_all("tr", class_="problem")}
    assert set(problems) == set(BLANKS)
    assert all("0 points in every exercise" in why for why in problems.values())
    rows = page.root.find_all("tr", class_="criterion")
    n = sum(len(files) for files in made.values()) + len(BLANKS) + 1
    assert n == 29 + 4 + 5 + 3 + 1  # benchmark, variant, x * (1 - x), blank and correct submissions
    assert len(rows) > 100 and {int(r.attrs["data-graded"]) for r in rows} == {n}
    rates = [int(r.attrs["data-passed"]) for r in rows]
    assert rates == sorted(rates)  # the least passed first
    # relu_derivative's edge criterion fails for the three students of mistake 1 and the three blanks only
    relu = [r for r in rows if r.find_all("td")[1].text().startswith("relu_derivative is finite and right at 0")]
    assert [int(r.attrs["data-passed"]) for r in relu] == [n - len(made["m1"]) - len(BLANKS)]
