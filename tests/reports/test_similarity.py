"""Code similarity across a class: calibrated on independent solutions and copies of them.

The class (``tests/similarity/corpus.py``): the golden solution and four solutions written apart in
other styles, each copied by every transformation a copier uses (renamed, reformatted, reordered,
re-commented, split across cells, respelled, all combined), and the golden variants (copies of the
golden solution with mistakes). Every copy pair must score above every independent pair.
"""
from __future__ import annotations

import csv
import itertools
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from grader.interfaces.cli import main
from grader.reports.classreport import write_report
from grader.rubric.record import Cells, CriterionRecord, ExerciseRecord, Provenance, SubmissionRecord
from grader.reports.files import write_submission
from grader.reports.similarity import compute as similarity
from grader.reports.similarity.compute import THRESHOLD, code_file, generated_starter, write_similarity
from grader.reports.similarity.failures import shared_failures, signatures
from grader.reports.similarity.index import grams, score_pairs
from grader.reports.similarity.normalise import exercise_code
from grader.reports.similarity.starter import CELLS, NAMES, REFERENCE, starter_code, starter_keys
from grader.reports.similarity.store import write_code
from similarity.corpus import TRANSFORMS, cells, corpus

ROOT = Path(__file__).resolve().parents[2]
MASTER = ROOT / "assignments" / "master" / "activations.ipynb"
STARTER_MODULE = ROOT / "grader" / "reports" / "similarity" / "starter.py"
MARK = "# generated: do not edit by hand"


@pytest.fixture(scope="module")
def calibration():
    """(names, families, scores) of the calibration class."""
    found = corpus()
    names = list(found)
    docs = [code_file(n, "", cells(source)).exercises for n, (_, source) in found.items()]
    scores = score_pairs(docs, NAMES, starter=starter_code(), reference=REFERENCE)
    return names, [found[n][0] for n in names], scores


def _by_pair(scores, values) -> dict[tuple[int, int], float]:
    return {(int(a), int(b)): float(v) for a, b, v in zip(scores.a, scores.b, values)}


def test_shipped_starter_and_reference_are_the_masters():
    """grader/reports/similarity/starter.py is generated from the master notebook (UPDATE_SNAPSHOTS=1 rewrites it)."""
    expected = generated_starter(json.loads(MASTER.read_text(encoding="utf-8")))
    text = STARTER_MODULE.read_text(encoding="utf-8")
    head, _, shipped = text.partition(MARK)
    if os.environ.get("UPDATE_SNAPSHOTS") and MARK + shipped != expected:
        STARTER_MODULE.write_text(head + expected, encoding="utf-8")
        pytest.skip("rewrote grader/reports/similarity/starter.py: review the diff")
    assert MARK + shipped == expected, ("grader/reports/similarity/starter.py is out of date with the master notebook: "
                                        "UPDATE_SNAPSHOTS=1 pytest tests/reports/test_similarity.py -k starter")
    assert any("def sigmoid(x):" in c and "..." in c for c in CELLS)
    assert {"def sigmoid ( p0 ) :", "def softmax ( p0 , p1 = - 1.0 ) :"} <= starter_keys()
    assert all(not (grams(code) - grams(starter_code()[q])) for q, code in starter_code().items())
    assert not any("np.exp(-np.abs(x))" in c for c in CELLS), "a solution leaked into the starter code"


def test_every_copy_pair_scores_above_every_independent_pair(calibration):
    names, families, scores = calibration
    overall = _by_pair(scores, scores.overall)
    copies, independent = [], []
    for i, j in itertools.combinations(range(len(names)), 2):
        (copies if families[i] == families[j] else independent).append(overall.get((i, j), 0.0))
    assert len(copies) >= 5 * 28 and len(independent) >= 4 * 8 * 8
    # the margin docs/similarity.md reports (measured: copies 0.82 and more, independent 0.17 at most)
    assert min(copies) > max(independent)
    assert min(copies) >= THRESHOLD > max(independent)
    assert min(copies) - max(independent) > 0.5


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_each_transformation_alone_hides_nothing(calibration, transform):
    names, families, scores = calibration
    overall = _by_pair(scores, scores.overall)
    per = {q: _by_pair(scores, scores.per_exercise[q]) for q in scores.exercises}
    independent = {q: max([v for (i, j), v in per[q].items() if families[i] != families[j] and v == v] or [0.0])
                   for q in scores.exercises}
    for family in set(families):
        i, j = sorted((names.index(f"{family}.py"), names.index(f"{family}_{transform}.py")))
        assert overall[(i, j)] >= 0.9, (family, transform)
        for q in scores.exercises:
            if q == "q3":  # a one-line answer is written alike by students who worked alone (docs/similarity.md)
                continue
            assert per[q][(i, j)] > independent[q], (family, transform, q)


def test_the_canonical_form_sees_through_cosmetic_edits_and_not_through_real_ones():
    def tokens(source: str) -> list[str]:
        return [s.key for u in exercise_code([source], NAMES)["q1"].units for s in u]

    base = tokens("import numpy as np\ndef tanh_derivative(x):\n    t = np.tanh(x)\n    return 1.0 - t**2\n")
    assert base == tokens("import numpy as npy\ndef tanh_derivative(z):  # mine\n    '''doc'''\n"
                          "    th = npy.tanh(z)\n    return -(th * th) + 1\n")
    assert base == tokens("from numpy import tanh\ndef tanh_derivative(v):\n    a = tanh(v)\n"
                          "    return 1 - np.power(a, 2)\n")
    assert base != tokens("import numpy as np\ndef tanh_derivative(x):\n    t = np.tanh(x)\n    return 1.0 - t**3\n")
    assert base != tokens("import numpy as np\ndef tanh_derivative(x):\n    t = np.cosh(x)\n    return 1.0 / t**2\n")


def test_the_starter_code_alone_makes_no_pair():
    """Blank notebooks (the starter code as given) pair with nothing, with each other or with anyone."""
    found = corpus()
    codes = {n: code_file(n, "", cells(src)) for n, (f, src) in found.items() if "_" not in n}
    for k in range(3):
        codes[f"blank{k}.ipynb"] = code_file(f"blank{k}.ipynb", "", list(CELLS))
    codes["blank_reformatted.ipynb"] = code_file("blank_reformatted.ipynb", "",
                                                 cells(TRANSFORMS["reformatted"]("# %%\n" + "\n# %%\n".join(CELLS))))
    rows = similarity.compute(codes, {}, threshold=0.0)
    assert not [r for r in rows if "blank" in r.a or "blank" in r.b]
    # five independent solutions: nothing to look at over all; exercise by exercise, only the short answers
    # (q3's two products, q7's if/elif on the scheme) that students write alike, in a class this small
    listed = [r for r in rows if r.score >= THRESHOLD]
    assert listed and {r.exercise for r in listed} <= {"q3", "q7"}


def test_twenty_students_writing_the_same_short_answer_are_not_twenty_suspects():
    """q8's natural one-liner, written by twenty students who each wrote other code of their own, is common
    code: it weighs next to nothing, and no pair of them reaches the threshold."""
    codes = {}
    for k in range(20):
        source = (f"import numpy as np\ndef dead_relu_units(preacts, threshold=0.01):\n"
                  f"    return np.mean(preacts > 0, axis=0) < threshold\n"
                  f"def relu_derivative(x):\n    y = np.asarray(x) * {k + 2}.5 - {k}\n    return np.sign(y + {k})\n")
        codes[f"s{k}.py"] = code_file(f"s{k}.py", "", [source])
    rows = similarity.compute(codes, {}, threshold=0.0)
    assert not [r for r in rows if r.score >= THRESHOLD]
    # the same class with one real copy: only that pair is listed
    codes["copy.py"] = code_file("copy.py", "", [TRANSFORMS["renamed"](
        "import numpy as np\ndef dead_relu_units(preacts, threshold=0.01):\n"
        "    return np.mean(preacts > 0, axis=0) < threshold\n"
        "def relu_derivative(x):\n    y = np.asarray(x) * 9.5 - 7\n    return np.sign(y + 7)\n")])
    listed = {(r.a, r.b) for r in similarity.compute(codes, {})}
    assert listed == {("copy.py", "s7.py")}


# --- the second signal: the same rare failures ---------------------------------------------------------
def _record(name: str, failures: dict[str, list[tuple[str, str]]], seed: int = 1) -> SubmissionRecord:
    exercises = {}
    for q in NAMES:
        criteria = [CriterionRecord(c, 0.0, 1.0, message, "Mismatch") for c, message in failures.get(q, [])]
        criteria.append(CriterionRecord("inputs are not modified", 1.0, 1.0))
        exercises[q] = ExerciseRecord(q, sum(c.points for c in criteria), float(len(criteria)), "", "", tuple(criteria))
    return SubmissionRecord.graded(name, exercises, 100.0, cells=Cells(1),
                                   notes=(), provenance=Provenance(seed=seed))


def test_shared_rare_failures_are_counted_and_common_ones_are_not():
    rare = [("collapse_affine matches on random inputs", "collapse_affine(W1, b1, W2, b2) returned c = [1.5 2.5]\n"
             "Hint: c is W2 @ b1 + b2: b2 is missing")]
    other_rare = [("softmax_jacobian is symmetric", "softmax_jacobian(s) returned the diagonal only")]
    common = [("softmax is finite at +-1000", "softmax([1000. 999.]) returned nan")]
    records = [_record("a.py", {"q3": rare, "q5": other_rare, "q4": common}),
               _record("b.py", {"q3": rare, "q5": other_rare, "q4": common}),
               *[_record(f"c{k}.py", {"q4": common}, seed=k + 7) for k in range(40)]]
    shared = shared_failures([signatures(r) for r in records])
    assert shared[(0, 1)] == {"q3": 1, "q5": 1}
    assert not [pair for pair in shared if pair != (0, 1)]
    rows = similarity.compute({}, {r.file: r for r in records})
    assert [(r.a, r.b, r.exercise, r.shared_failures) for r in rows] == [("a.py", "b.py", "all", 2)]


# --- the output directory, the command and the page ----------------------------------------------------
HOSTILE_NAME = '<script>alert(1)</script>"=HYPERLINK(x).py'


def _with_comment(source: str, after: str, comment: str) -> str:
    """``source`` with ``comment`` as the first line of the body of the statement that starts with ``after``."""
    lines = source.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(after))
    indent = lines[at + 1][:len(lines[at + 1]) - len(lines[at + 1].lstrip())]
    return "\n".join([*lines[:at + 1], indent + comment, *lines[at + 1:]]) + "\n"


def _out_dir(tmp_path: Path) -> Path:
    """An output directory of five students, two of them copies, one with a hostile name and hostile comments."""
    found = corpus()
    picked = {"golden.py": found["golden.py"][1], "masks.py": found["masks.py"][1],
              "compact.py": found["compact.py"][1], "beginner.py": found["beginner.py"][1],
              HOSTILE_NAME: _with_comment(found["masks_combined.py"][1], "def sigmoid",
                                          "# </pre><img src=x onerror=alert(2)> <mark>")}
    for name, source in picked.items():
        write_code(tmp_path, code_file(name, "0" * 64, cells(source)))
        write_submission(tmp_path, _record(name, {}))
    return tmp_path


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack, self.tags, self.pres, self.marks, self.text = [], [], [], 0, []
        self.in_section = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs, bool(self.in_section)))
        if tag == "section" and attrs.get("id") == "similarity":
            self.in_section = 1
        elif self.in_section and tag == "section":
            self.in_section += 1
        if self.in_section and tag == "pre":
            self.pres.append([attrs.get("data-side"), ""])
        if self.in_section and tag == "mark":
            self.marks += 1

    def handle_endtag(self, tag):
        if self.in_section and tag == "section":
            self.in_section -= 1

    def handle_data(self, data):
        if self.in_section:
            self.text.append(data)
            if self.pres:
                self.pres[-1][1] += data


def test_the_command_writes_the_csv_and_the_report_section_from_out_alone(tmp_path):
    out = _out_dir(tmp_path)
    result = CliRunner().invoke(main, ["similarity", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "similarity.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["a", "b", "exercise", "score", "shared_failures"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] >= THRESHOLD
    # the copy over all exercises and exercise by exercise; besides, only the short answers written alike
    copy = {r["exercise"] for r in rows if "masks.py" in (r["a"], r["b"]) and "HYPERLINK" in r["a"] + r["b"]}
    assert copy >= {"all", "q1", "q2", "q4", "q10"}
    assert {r["exercise"] for r in rows if not ("masks.py" in (r["a"], r["b"]) and "HYPERLINK" in r["a"] + r["b"])} \
        <= {"q3", "q7"}
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
    page = _Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert "Similarity is a reason to look, not a verdict." in text
    assert not [t for t, _, inside in page.tags if t == "script" or inside and t == "img"]
    assert not [a for t, a, inside in page.tags if inside and any(k.startswith("on") for k in a)]
    sides = [side for side, _ in page.pres]
    assert sides[:2] == ["a", "b"] and page.marks > 3
    assert any("</pre><img src=x onerror=alert(2)>" in code for _, code in page.pres)  # shown as text
    assert HOSTILE_NAME in text


def test_no_section_without_similarity_and_a_damaged_code_file_is_left_out(tmp_path):
    out = _out_dir(tmp_path)
    write_report(out)
    assert 'id="similarity"' not in (out / "report.html").read_text(encoding="utf-8")
    (out / "code" / "golden.json").write_text("{not json", encoding="utf-8")
    found = write_similarity(out)
    assert found.damaged == ["golden.json"] and found.missing_code == ["golden.py"]
    assert found.rows and all("golden.py" not in (r.a, r.b) for r in found.rows)


def test_scores_are_in_zero_one(calibration):
    _, _, scores = calibration
    values = np.concatenate([scores.overall, *[v[~np.isnan(v)] for v in scores.per_exercise.values()]])
    assert values.min() >= 0.0 and values.max() <= 1.0 + 1e-9


def test_merging_shards_compares_the_whole_class(tmp_path):
    """A copy graded in another shard than its original is found once the shards are merged."""
    from grader.pipeline.merge import merge_shards

    found = corpus()
    for shard, names in (("s0", ["golden.py", "masks.py"]), ("s1", ["compact.py", "masks_renamed.py"])):
        for name in names:
            write_code(tmp_path / shard, code_file(name, "0" * 64, cells(found[name][1])))
            write_submission(tmp_path / shard, _record(name, {}))
        assert not [r for r in write_similarity(tmp_path / shard).rows if r.exercise == "all"]  # apart: no pair
    merge_shards([tmp_path / "s0", tmp_path / "s1"], tmp_path / "all", report=False)
    with open(tmp_path / "all" / "similarity.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["exercise"] == "all"]
    assert [(r["a"], r["b"]) for r in rows] == [("masks.py", "masks_renamed.py")]


def test_code_that_breaks_the_parser_costs_only_its_own_comparison(tmp_path):
    """Deep nesting, a cell that does not parse, a huge expression: the submission is left out, the rest compared."""
    from grader.pipeline.codefiles import keep_code

    found = corpus()
    sources = {"deep.py": "import numpy as np\ndef sigmoid(x):\n    return " + "(" * 5000 + "x" + ")" * 5000 + "\n",
               "broken.py": "# %%\ndef sigmoid(x:\n# %%\ndef glu(a, b):\n    return a * b\n",
               "long.py": "def softmax(z, axis=-1):\n    return z" + " + z" * 20000 + "\n",
               "masks.py": found["masks.py"][1], "masks_renamed.py": found["masks_renamed.py"][1]}
    items = []
    for name, source in sources.items():
        (tmp_path / name).write_text(source)
        items.append((name, tmp_path / name))
    assert keep_code(tmp_path / "out", items) == 5
    rows = write_similarity(tmp_path / "out").rows
    assert [(r.a, r.b) for r in rows if r.exercise == "all"] == [("masks.py", "masks_renamed.py")]
