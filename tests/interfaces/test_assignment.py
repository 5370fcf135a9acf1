"""The Otter assignment: build, student notebook, public checks, autograder zip and plugin.

One build of dist/ into a temporary directory serves every test; the ``otter run``s
(about 5 s each) run once in a module fixture, and the tests compare their
per-question scores with what activation-grader's engine gives the same notebooks.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.rubric.exercises import EXERCISES
from variants import derive

ROOT = Path(__file__).resolve().parents[2]


def _load_build():
    spec = importlib.util.spec_from_file_location("assignment_build", ROOT / "assignments" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()
PLUGIN = "grader.otter_plugin.ActivationGraderPlugin"

#: Appended to the blank student notebook: makes every Otter test case pass inside Otter's kernel,
#: once through Otter's own test runner and once through this project's in-kernel check.
TAMPER = '''\
try:
    from otter.test_files import exception_test as _et
    from otter.test_files.abstract_test import TestCaseResult as _Result

    def _all_pass(self, env):
        self.test_case_results = [_Result(test_case=tc, message="passed", passed=True) for tc in self.test_cases]

    _et.ExceptionTestFile.run = _all_pass
    import grader.interfaces.otter_plugin as _plugin
    _plugin.check_criterion = lambda *args, **kwargs: None
except ImportError:
    pass
'''


# --- helpers ----------------------------------------------------------------------------------------
def _cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


def _write_variant(src: Path, dst: Path, edit) -> Path:
    nb = json.loads(src.read_text())
    edit(nb)
    dst.write_text(json.dumps(nb))
    return dst


def _naive_softmax(nb: dict) -> None:
    """q4 wrong, everything else right: softmax without subtracting the maximum."""
    hits = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "def softmax(" in src:
            new = src.replace("np.exp(z - np.max(z, axis=axis, keepdims=True))", "np.exp(z)")
            hits += new != src
            cell["source"] = new
    assert hits == 1


def _tamper(nb: dict) -> None:
    """First, so that even the notebook's own grader.check cells (which Otter's grading runs) are fooled."""
    nb["cells"].insert(0, nbformat.v4.new_code_cell(TAMPER))


def _zip_with_config(src: Path, dst: Path, **changes) -> Path:
    """A copy of the autograder zip whose otter_config.json has ``changes``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "otter_config.json":
                config = json.loads(data)
                config.update(changes)
                data = json.dumps(config, indent=2).encode()
            zout.writestr(info, data)
    return dst


def _zip_with_plugins(src: Path, dst: Path, plugins: list) -> Path:
    """A copy of the autograder zip whose otter_config.json lists ``plugins``."""
    return _zip_with_config(src, dst, plugins=plugins)


def _otter_run(zip_path: Path, notebook: Path, out: Path) -> dict:
    out.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(zip_path), "-o", str(out),
                           str(notebook)], cwd=out, capture_output=True, text=True, timeout=300)
    results = out / "results.json"
    assert proc.returncode == 0 and results.exists(), (
        f"otter run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(results.read_text())


def _question(test: dict) -> str:
    """``q4`` for a results.json test named "q4: Numerically stable softmax" (or plain "q4")."""
    return test["name"].split(":", 1)[0]


def _per_question(results: dict) -> dict[str, float]:
    return {_question(t): t["score"] for t in results["tests"] if _question(t) in EXERCISES}


def _engine(notebook: Path, seed: int | None = None) -> dict[str, float]:
    from grader.pipeline.grading import grade
    from grader.pipeline.tasks import Options
    from grader.pipeline.warm import close_workers

    try:
        record = grade({"name": notebook.name, "content": notebook.read_bytes(),
                        "options": Options(seed=seed).to_dict()})
    finally:
        close_workers()
    assert record["status"] == "graded", record
    return {q: ex["score"] for q, ex in record["exercises"].items()}


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    return build.build(tmp_path_factory.mktemp("dist"), run_tests=False)


@pytest.fixture(scope="module")
def notebooks(dist, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("notebooks")
    solution = shutil.copy(dist["solution"], d / "solution.ipynb")
    blank = shutil.copy(dist["student"], d / "blank.ipynb")
    return {"solution": Path(solution), "blank": Path(blank),
            "one_wrong": _write_variant(dist["solution"], d / "one_wrong.ipynb", _naive_softmax),
            "tamper": _write_variant(dist["student"], d / "tamper.ipynb", _tamper)}


@pytest.fixture(scope="module")
def otter_results(dist, notebooks, tmp_path_factory) -> dict[str, dict]:
    """Every ``otter run`` the tests look at (one after the other: each one keeps a core busy)."""
    d = tmp_path_factory.mktemp("otter")
    zips = {"plugin": dist["autograder_zip"],
            "no_plugin": _zip_with_plugins(dist["autograder_zip"], d / "no-plugin.zip", []),
            "in_otter": _zip_with_plugins(dist["autograder_zip"], d / "in-otter.zip",
                                          [{PLUGIN: {"execute_in_otter": True}}]),
            "after_published": _zip_with_config(dist["autograder_zip"], d / "after-published.zip",
                                                show_all_public=False)}
    runs = {"solution": ("plugin", "solution"), "blank": ("plugin", "blank"),
            "one_wrong_in_otter": ("in_otter", "one_wrong"),
            "tamper_no_plugin": ("no_plugin", "tamper"), "tamper": ("plugin", "tamper"),
            "after_published": ("after_published", "one_wrong")}
    return {key: _otter_run(zips[z], notebooks[nb], d / key) for key, (z, nb) in runs.items()}


# --- the master notebook ----------------------------------------------------------------------------
def test_master_hidden_tests_match_the_criteria():
    """One hidden test case per criterion, same points; rebuild with `python assignments/build.py --sync`."""
    assert build.check_master() == []


def test_sync_restores_missing_or_changed_hidden_tests():
    nb = json.loads(build.MASTER.read_text())
    in_sync, problems = build.sync_hidden_tests(copy.deepcopy(nb))
    assert problems == [] and in_sync == nb
    hidden = [i for i, src in enumerate(_cells(nb)) if build.HIDDEN_MARK in src]
    damaged = copy.deepcopy(nb)
    del damaged["cells"][hidden[0]]  # q1's first criterion
    damaged["cells"][hidden[-1] - 1]["source"] = _cells(nb)[hidden[-1]].replace("points: ", "points: 1")
    repaired, problems = build.sync_hidden_tests(damaged)
    assert [p.split(":")[0] for p in problems] == ["q1", "q10"]
    assert repaired == nb


def test_master_question_points_are_the_contract():
    nb = json.loads(build.MASTER.read_text())
    points = {}
    for src in _cells(nb):
        if src.lower().startswith("# begin question"):
            import yaml

            config = yaml.safe_load(src)
            points[config["name"]] = config["points"]
    assert points == build.CONTRACT_POINTS
    assert sum(points.values()) == 100
    assert all(EXERCISES[q].points == p for q, p in points.items())


# --- the build --------------------------------------------------------------------------------------
@pytest.mark.otter
def test_build_is_reproducible(dist, tmp_path):
    again = build.build(tmp_path / "again", run_tests=False)
    for key, path in dist.items():
        assert path.read_bytes() == again[key].read_bytes(), f"{key} differs between two builds"
    with zipfile.ZipFile(dist["autograder_zip"]) as zf:
        assert {i.date_time for i in zf.infolist()} == {build.ZIP_TIME}
        names = zf.namelist()
    assert names == sorted(names)
    for needed in ("otter_config.json", "run_autograder", "setup.sh", "environment.yml",
                   "files/activation-grader/pyproject.toml", "files/activation-grader/grader/otter_plugin.py",
                   "files/activation-grader/reference/keys.py", *(f"tests/{q}.py" for q in EXERCISES)):
        assert needed in names
    assert not any("__pycache__" in n for n in names)


@pytest.mark.otter
def test_autograder_config(dist):
    with zipfile.ZipFile(dist["autograder_zip"]) as zf:
        config = json.loads(zf.read("otter_config.json"))
        environment = zf.read("environment.yml").decode()
    assert config["plugins"] == [{"grader.otter_plugin.ActivationGraderPlugin": {"isolation": "auto",
                                                                                 "require_isolation": "uid"}}]
    assert config["pdf"] is False and "assignment_name" not in config  # any notebook defining the names is graded
    with zipfile.ZipFile(dist["autograder_zip"]) as zf:
        setup = zf.read("setup.sh").decode()
        requirements = zf.read("requirements.txt").decode().split()
        run_otter = zf.read("run_otter.py").decode()
        run_autograder = zf.read("run_autograder").decode()
    from importlib.metadata import version

    assert f"otter-grader[grading]=={version('otter-grader')}" in requirements and "numpy>=1.26,<3" in requirements
    assert "files/activation-grader" not in environment  # not there yet when `otter grade` runs setup.sh
    # only what is missing, and never LaTeX, pandoc or Chromium (PDFs are off)
    commands = "\n".join(line for line in setup.splitlines() if not line.lstrip().startswith("#"))
    for absent in ("texlive", "pandoc", "playwright", "build-essential", "jq"):
        assert absent not in commands, absent
    assert "nothing to install" in setup and "submission_metadata.json" in setup
    assert "grader.interfaces.otter_gradescope" in run_otter and "run_otter.py" in run_autograder


@pytest.mark.otter
def test_student_notebook_has_no_solutions_and_only_public_tests(dist):
    student = json.loads(dist["student"].read_text())
    code = "\n".join(src for cell, src in zip(student["cells"], _cells(student)) if cell["cell_type"] == "code")
    assert "BEGIN SOLUTION" not in code
    for solution_only in ("np.outer(s, s)", "W2 @ W1", "np.sqrt(var)", "np.mean(preacts > 0"):
        assert solution_only not in code
    tests = student["metadata"]["otter"]["tests"]
    assert sorted(tests, key=lambda q: int(q[1:])) == list(EXERCISES)
    for q, source in tests.items():
        assert "hidden=True" not in source and "check_criterion" not in source, q
        assert not re.search(r"(import|from)\s+(grader|reference)\b", source), q
        assert "@test_case(points=0, hidden=False)" in source, q


# --- notebooks in a fresh kernel ---------------------------------------------------------------------
def _execute(path: Path, tmp_path: Path, name: str = "activations.ipynb") -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    work = tmp_path / name
    shutil.copy(path, work)
    nb = nbformat.read(work, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _outputs(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o:
            out.append(o["data"].get("text/plain", "") + "\n")  # a displayed value is an output of its own
    return "".join(out)


def _check_cells(nb) -> dict[str, str]:
    return {c.source.split('"')[1]: _outputs(c) for c in nb.cells
            if c.cell_type == "code" and c.source.startswith("grader.check(")}


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.otter
def test_student_notebook_runs_top_to_bottom(dist, tmp_path):
    nb = _execute(dist["student"], tmp_path)  # raises CellExecutionError if any cell fails
    checks = _check_cells(nb)
    assert list(checks) == list(EXERCISES)
    for q, text in checks.items():
        assert "Test case failed" in text and "returned None" in text, (q, text)
    assert _figures(nb) == 2
    assert not any("Traceback" in _outputs(c) for c in nb.cells)


@pytest.mark.otter
def test_solution_passes_every_public_check(dist, tmp_path):
    nb = _execute(dist["solution"], tmp_path)
    checks = _check_cells(nb)
    assert list(checks) == list(EXERCISES)
    for q, text in checks.items():
        assert "All test cases passed" in text, (q, text)
    assert _figures(nb) == 2
    assert "first-layer norm / last-layer norm" in "".join(_outputs(c) for c in nb.cells)


# --- otter run --------------------------------------------------------------------------------------
@pytest.mark.otter
def test_otter_run_solution_scores_100(otter_results):
    results = otter_results["solution"]
    scores = _per_question(results)
    assert scores == {q: float(ex.points) for q, ex in EXERCISES.items()}
    assert sum(scores.values()) == 100
    assert {_question(t): t["max_score"] for t in results["tests"] if _question(t) in EXERCISES} == build.CONTRACT_POINTS
    assert "Graded by activation-grader" in results["output"]
    assert [t["name"] for t in results["tests"]] == [f"{q}: {ex.title}" for q, ex in EXERCISES.items()]
    assert {t["status"] for t in results["tests"]} == {"passed"}
    assert {t["output_format"] for t in results["tests"]} == {"text"} and results["output_format"] == "text"


@pytest.mark.otter
def test_otter_run_blank_notebook_scores_0(otter_results):
    scores = _per_question(otter_results["blank"])
    assert scores == {q: 0.0 for q in EXERCISES}
    assert not any(t["name"] == "Autograder Failed" for t in otter_results["blank"]["tests"])
    assert {t["status"] for t in otter_results["blank"]["tests"]} == {"failed"}


@pytest.mark.otter
def test_otter_run_one_wrong_exercise_loses_only_that_one(otter_results, notebooks):
    """Otter runs this notebook in its own kernel too (execute_in_otter); the plugin's scores still rule."""
    results = otter_results["one_wrong_in_otter"]
    scores = _per_question(results)
    assert scores["q4"] < EXERCISES["q4"].points
    assert {q: s for q, s in scores.items() if q != "q4"} == {q: float(ex.points) for q, ex in EXERCISES.items()
                                                             if q != "q4"}
    assert scores == _engine(notebooks["one_wrong"])
    q4 = next(t for t in results["tests"] if _question(t) == "q4")
    assert "Test case failed" in q4["output"] and "[1000, 999, 998]" in q4["output"]
    assert q4["status"] == "failed" and q4["name"] == "q4: Numerically stable softmax"
    assert {t["status"] for t in results["tests"] if t is not q4} == {"passed"}


@pytest.mark.otter
def test_visibility_shipped_and_after_published(otter_results):
    """The shipped choice shows every question's result at once; show_all_public: false defers them all."""
    assert {t["visibility"] for t in otter_results["solution"]["tests"]} == {"visible"}
    deferred = otter_results["after_published"]
    assert {t["visibility"] for t in deferred["tests"]} == {"after_published"}
    assert not any(t["name"] == "Public Tests" for t in deferred["tests"])  # no summary that would show them
    assert _per_question(deferred) == _per_question(otter_results["one_wrong_in_otter"])


@pytest.mark.otter
def test_hidden_tests_score_each_question_like_the_engine(dist, solution_source):
    """Otter's own test files (no plugin): per question, the hidden cases' points equal the engine's score."""
    from otter.test_files.exception_test import ExceptionTestFile

    from grader.interfaces.otter_plugin import KERNEL_SEED
    from helpers import grade_source, namespace_of, points

    wrong = solution_source.replace("np.exp(z - np.max(z, axis=axis, keepdims=True))", "np.exp(z)")
    blank = "import numpy as np\n" + "\n".join(f"def {n}(*args, **kwargs):\n    return None"
                                               for ex in EXERCISES.values() for n in ex.names)
    with zipfile.ZipFile(dist["autograder_zip"]) as zf:
        tests = {q: zf.read(f"tests/{q}.py").decode() for q in EXERCISES}
    for source in (solution_source, wrong, blank):
        env = namespace_of(source)
        otter_scores = {}
        for q, test in tests.items():
            test_file = ExceptionTestFile.from_string(test, path=f"tests/{q}.py")
            assert test_file.possible == EXERCISES[q].points
            test_file.run(env)
            otter_scores[q] = test_file.score
        assert otter_scores == {q: points(grade_source(q, source, seed=KERNEL_SEED)) for q in EXERCISES}
    assert otter_scores == {q: 0 for q in EXERCISES}


@pytest.mark.otter
def test_tampering_fools_otter_alone_but_not_the_plugin(otter_results, notebooks):
    honest = _engine(notebooks["tamper"])
    assert honest == {q: 0.0 for q in EXERCISES}
    # Otter on its own runs its tests in the student's kernel, where the notebook replaced them
    assert sum(_per_question(otter_results["tamper_no_plugin"]).values()) == 100
    # with the plugin the scores are the engine's
    assert _per_question(otter_results["tamper"]) == honest


@pytest.mark.otter
def test_plugin_drops_a_submitted_log_and_refuses_grade_from_log(tmp_path, solution_source):
    """Otter would unpickle a submitted .OTTER_LOG in its grading process: the plugin removes it first."""
    from types import SimpleNamespace

    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    submission = tmp_path / "mine.py"
    submission.write_text(solution_source)
    log = tmp_path / ".OTTER_LOG"
    log.write_bytes(b"whatever a student puts here")
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "auto"})
    with pytest.raises(Exception, match="grade_from_log"):
        plugin.before_grading(SimpleNamespace(grade_from_log=True))
    plugin.before_grading(SimpleNamespace(grade_from_log=False))
    assert not log.exists()
    assert plugin.record.status == "graded" and plugin.record.score == 100


# --- the public checks, straight from the student notebook's metadata --------------------------------
#: Realistic mistakes that cost points but used to pass every public check, and one that got the
#: wrong function blamed: (exercise, function the check must name, old text, new text) in tests/golden/solution.py.
SILENT_MISTAKES = {
    "global_max_softmax": ("q4", "softmax", "np.exp(z - np.max(z, axis=axis, keepdims=True))", "np.exp(z - np.max(z))"),
    "uniform_init": ("q7", "init_weights", "rng.normal(0.0, np.sqrt(var), size=(n_in, n_out))",
                     "rng.uniform(-np.sqrt(3 * var), np.sqrt(3 * var), size=(n_in, n_out))"),
    "threshold_inclusive": ("q8", "dead_relu_units", "< threshold", "<= threshold"),
    "backward_writes_grad_out": ("q9", "prelu_backward",
                                 "    grad_x = grad_out * np.where(x > 0, 1.0, alpha)\n"
                                 "    grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))\n",
                                 "    grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))\n"
                                 "    grad_out *= np.where(x > 0, 1.0, alpha)\n    grad_x = grad_out\n"),
    "prelu_mutates_x": ("q9", "prelu", "def prelu(x, alpha):\n    return np.where(x > 0, x, alpha * x)",
                        "def prelu(x, alpha):\n    x[x <= 0] *= alpha\n    return x"),
    "sigmoid_in_float32": ("q1", "sigmoid", "    x = np.asarray(x, dtype=float)\n    e = np.exp(-np.abs(x))\n",
                           "    x = np.asarray(x, dtype=np.float32)\n    e = np.exp(-np.abs(x))\n",
                           ("q2", "q6", "q10")),  # silu_derivative, glu and q10's networks use sigmoid
    "sigmoid_clips_in_place": ("q1", "sigmoid", "    x = np.asarray(x, dtype=float)\n    e = np.exp(-np.abs(x))\n",
                               "    x = np.asarray(x, dtype=float)\n    np.clip(x, -500, 500, out=x)\n"
                               "    e = np.exp(-np.abs(x))\n", ("q2", "q6")),  # silu_derivative, glu use sigmoid
}

#: Other correct implementations: the checks must pass them too.
ALTERNATIVES = {
    "def softmax(z, axis=-1):\n": "def softmax(z, axis=-1):\n    import scipy.special\n"
                                  "    return scipy.special.softmax(z, axis=axis)\n",
    "def init_weights(n_in, n_out, scheme, rng):\n": "def init_weights(n_in, n_out, scheme, rng):\n"
        "    if scheme not in ('xavier', 'he'):\n        raise ValueError(scheme)\n"
        "    v = 2.0 / (n_in + n_out) if scheme == 'xavier' else 2.0 / n_in\n"
        "    return np.sqrt(v) * rng.standard_normal((n_in, n_out))\n",
    "def dead_relu_units(preacts, threshold=0.01):\n": "def dead_relu_units(preacts, threshold=0.01):\n"
        "    return (preacts > 0).sum(axis=0) < threshold * preacts.shape[0]\n",
    "def prelu_backward(x, alpha, grad_out):\n": "def prelu_backward(x, alpha, grad_out):\n"
        "    neg = x <= 0\n    return np.where(neg, alpha * grad_out, grad_out), np.sum(np.where(neg, x * grad_out, 0.0))\n",
}


def _public_checks(dist) -> dict:
    from otter.test_files.exception_test import ExceptionTestFile

    tests = json.loads(dist["student"].read_text())["metadata"]["otter"]["tests"]
    return {q: (lambda src=src, q=q: ExceptionTestFile.from_string(src, path=f"{q}.py")) for q, src in tests.items()}


def _run_public(dist, source: str) -> dict[str, object]:
    """Each question's public test file, run on the functions ``source`` defines."""
    from helpers import namespace_of

    env = namespace_of(source)
    out = {}
    for q, make in _public_checks(dist).items():
        test_file = make()
        test_file.run(env)
        out[q] = test_file
    return out


def _failures(test_file) -> list[str]:
    return [r.message for r in test_file.test_case_results if not r.passed]


def _mistake(source: str, old: str, new: str) -> str:
    return derive(source, ((old, new),), variant=f"mistake {old[:30]!r}")


@pytest.mark.otter
def test_public_checks_pass_correct_implementations(dist, solution_source):
    alternative = derive(solution_source, tuple((head, body + "\n\ndef _replaced_" + head[4:])
                                                for head, body in ALTERNATIVES.items()), variant="alternatives")
    for source in (solution_source, alternative):
        results = _run_public(dist, source)
        assert {q: _failures(t) for q, t in results.items()} == {q: [] for q in EXERCISES}


@pytest.mark.otter
@pytest.mark.parametrize("mistake", sorted(SILENT_MISTAKES))
def test_public_checks_catch_silent_mistakes_and_name_the_function(dist, solution_source, mistake):
    q, function, old, new, *also = SILENT_MISTAKES[mistake]
    results = _run_public(dist, _mistake(solution_source, old, new))
    assert sorted((other for other, t in results.items() if _failures(t)), key=list(EXERCISES).index) == sorted(
        [q, *(also[0] if also else ())], key=list(EXERCISES).index)
    messages = _failures(results[q])  # the first failing check of the question is about `function`
    blamed = re.findall(r"(?<![\w.])(sigmoid|prelu_backward|prelu|softmax|init_weights|dead_relu_units)(?=[ (:])",
                        messages[0].split("AssertionError")[-1])
    assert blamed and set(blamed) == {function}, messages[0]
    # and the grade agrees that it is a mistake
    from helpers import grade_source, points

    assert points(grade_source(q, _mistake(solution_source, old, new))) < EXERCISES[q].points


@pytest.mark.otter
def test_public_checks_give_nothing_to_trivial_answers(dist):
    trivial = {
        "zeros": "np.zeros_like(np.asarray(args[0], dtype=float)) if args and np.ndim(args[0]) else 0.0",
        "the input": "args[0] if args else None",
        "nan": "np.full(np.shape(args[0]) if args else (), np.nan)",
    }
    names = [n for ex in EXERCISES.values() for n in ex.names]
    for what, body in trivial.items():
        source = "import numpy as np\n" + "\n".join(f"def {n}(*args, **kwargs):\n    return {body}" for n in names)
        results = _run_public(dist, source)
        assert all(_failures(t) for t in results.values()), (what, [q for q, t in results.items() if not _failures(t)])


@pytest.mark.otter
def test_each_question_says_how_many_hidden_criteria_grade_it(dist):
    """The notebooks carry each question's hidden criteria (from grader.rubric.exercises); no public test
    case carries a message any more, so nothing is shown under a "passed" mark."""
    for notebook in ("student", "solution"):
        hidden = json.loads(dist[notebook].read_text())["metadata"]["activation_grader"]["hidden_criteria"]
        assert set(hidden) == set(EXERCISES)  # (the notebook is written with sorted keys)
        for q, ex in EXERCISES.items():
            assert hidden[q] == {"points": ex.points, "criteria": [[c.name, c.points] for c in ex.criteria]}
    tests = json.loads(dist["student"].read_text())["metadata"]["otter"]["tests"]
    for q in EXERCISES:
        assert not [tc for tc in _public_checks(dist)[q]().test_cases if tc.success_message], q
        assert "hidden=True" not in tests[q]


def _check_all_output(nb) -> str:
    return "".join(_outputs(c) for c in nb.cells if c.cell_type == "code" and "grader.check_all()" in c.source)


def _notice_lines(text: str, q: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"Not the grade: {q} is graded by ")]


@pytest.mark.otter
def test_grader_check_works_under_another_name_and_says_what_else_grades(dist, tmp_path):
    """A student's `activations-Copy1.ipynb` gets its checks; after each, on a line of its own (not
    under the "passed" mark), the hidden criteria that grade the question, one line each."""
    nb = _execute(dist["solution"], tmp_path, name="activations-Copy1.ipynb")
    checks = _check_cells(nb)
    assert list(checks) == list(EXERCISES)
    for q, text in checks.items():
        assert "All test cases passed" in text, (q, text)
        passed, _, after = text.partition("All test cases passed!")
        (line,) = _notice_lines(after, q)
        ex = EXERCISES[q]
        assert f"{q} is graded by {len(ex.criteria)} hidden criteria ({ex.points:g} points)" in line
        listed = [ln for ln in after.splitlines() if ln.startswith("  - ")]
        assert listed == [f"  - {c.name} [{c.points:g} pt{'' if c.points == 1 else 's'}]" for c in ex.criteria]
        assert "graded by" not in passed  # nothing of it before (or under) Otter's result
    everything = _check_all_output(nb)
    for q, ex in EXERCISES.items():
        (line,) = _notice_lines(everything, q)
        assert f'grader.check("{q}") lists them' in line
    assert "WARNING" not in "".join(_outputs(c) for c in nb.cells)


@pytest.mark.otter
def test_check_all_lists_the_questions_in_numeric_order(dist, tmp_path):
    nb = _execute(dist["solution"], tmp_path)
    everything = _check_all_output(nb)
    order = re.findall(r"^(q\d+) results:", everything, re.M)
    assert order == list(EXERCISES) == [f"q{i}" for i in range(1, 11)]
    notices = re.findall(r"^Not the grade: (q\d+) ", everything, re.M)
    assert notices == order


@pytest.mark.otter
def test_grader_check_warns_loudly_without_the_notebook_file(dist, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(dist["student"], as_version=4)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
    checks = _check_cells(nb)
    assert all("WARNING: no sanity checks ran for " + q in text for q, text in checks.items()), checks
    setup = _outputs(nb.cells[[i for i, c in enumerate(nb.cells) if c.cell_type == "code"][0]])
    assert f"no notebook is in {run_dir}" in setup and "Start Jupyter in the folder that holds activations.ipynb" in setup


@pytest.mark.otter
def test_a_notebook_without_the_checks_metadata_is_told_what_to_do(dist, tmp_path):
    """A new notebook into which the student pasted the cells (no Otter metadata) says where the checks
    are and what to do, instead of "save the notebook and run this cell again"."""
    from nbclient import NotebookClient

    nb = nbformat.read(dist["student"], as_version=4)
    nb.metadata = {"kernelspec": nb.metadata["kernelspec"]}
    nbformat.write(nb, tmp_path / "my_work.ipynb")
    nb = nbformat.read(tmp_path / "my_work.ipynb", as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    setup = _outputs(nb.cells[[i for i, c in enumerate(nb.cells) if c.cell_type == "code"][0]])
    assert "WARNING: grader.check is off: my_work.ipynb does not carry the checks" in setup, setup
    assert "Download activations.ipynb again, copy your functions into it" in setup
    assert "save the notebook and run this cell again" not in setup
    assert all("WARNING: no sanity checks ran for " + q in t for q, t in _check_cells(nb).items())


# --- Gradescope: a result for every submission (grader.interfaces.otter_gradescope) ------------------------------
BAD_SUBMISSIONS = {
    "empty": ({"activations.ipynb": b""}, "is empty"),
    "blank_text": ({"activations.ipynb": b"  \n"}, "is empty"),
    "not_json": ({"activations.ipynb": b"<html>Jupyter download page</html>"}, "not valid JSON"),
    "json_not_notebook": ({"activations.ipynb": b'{"cells": []}'}, "not a Jupyter notebook"),
    # saved outputs no longer count (they are dropped before any limit); too many cells still do
    "too_large": ({"activations.ipynb": json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": None}] * 10_001
    }).encode()}, "cells, over the limit"),
    "pdf_only": ({"activations.pdf": b"%PDF-1.4"}, "no notebook (.ipynb) was found"),
    "nothing": ({}, "received: nothing"),
    "two_notebooks": ({"a.ipynb": b"{}", "b.ipynb": b"{}"}, "2 notebooks were submitted"),
}


@pytest.mark.otter
@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
def test_gradescope_run_gives_every_bad_submission_a_result(tmp_path, case):
    import dill

    from grader.interfaces.otter_gradescope import main

    files, expected = BAD_SUBMISSIONS[case]
    (tmp_path / "submission").mkdir()
    (tmp_path / "source").mkdir()
    (tmp_path / "submission_metadata.json").write_text("")  # as `otter grade`'s image leaves it
    for name, content in files.items():
        (tmp_path / "submission" / name).write_bytes(content)
    assert main(str(tmp_path)) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and expected in results["output"]
    assert results["output_format"] == "text"
    (test,) = results["tests"]
    assert test["status"] == "failed" and test["score"] == 0 and test["output_format"] == "text"
    assert expected in test["output"]
    with open(tmp_path / "results" / "results.pkl", "rb") as f:
        pickled = dill.load(f)  # what `otter grade` reads
    assert pickled.has_catastrophic_failure() and expected in str(pickled.catastrophic_error)
    assert json.loads((tmp_path / "submission_metadata.json").read_text()) == {}


def test_gradescope_metadata_is_left_alone_when_valid(tmp_path):
    from grader.interfaces.otter_gradescope import repair_metadata

    path = tmp_path / "submission_metadata.json"
    path.write_text('{"id": 7}')
    assert repair_metadata(tmp_path) is False and path.read_text() == '{"id": 7}'
    path.write_text("")
    assert repair_metadata(tmp_path) is True and json.loads(path.read_text()) == {}


def test_complete_gradescope_fields_sets_status_and_format_everywhere():
    from grader.interfaces.otter_gradescope import complete_gradescope_fields

    out = complete_gradescope_fields({"tests": [{"name": "q1: x", "score": 10, "max_score": 10},
                                                {"name": "q2: y", "score": 9.5, "max_score": 10},
                                                {"name": "Autograder Failed"},
                                                {"name": "given", "score": 0, "max_score": 1, "status": "passed"}]})
    assert [t["status"] for t in out["tests"]] == ["passed", "failed", "failed", "passed"]
    assert {t["output_format"] for t in out["tests"]} == {"text"} and out["output_format"] == "text"


def test_plugin_summary_reports_skipped_cells_and_timeouts():
    from grader.interfaces.otter_plugin import grading_summary
    from grader.rubric.record import SubmissionRecord

    record = {"score": 90.0, "possible": 100.0, "status": "graded", "message": "",
              "provenance": {"grader_version": "x", "isolation": "root", "seed": 1},
              "cells": {"count": 12, "errors": [{"cell": 8, "type": "Timeout", "message": "did not finish within 10 s",
                                                 "line": None},
                                                {"cell": 3, "type": "NameError", "message": "name 'q' is not defined",
                                                 "line": 2}],
                        "skipped": [{"cell": 8, "why": "did not finish within 10 s"}]},
              "notes": ["the notebook is nbformat 3; read as 4"],
              "exercises": {"q6": {"title": "GLU", "score": 5.0, "max_score": 10.0,
                                   "note": "glu was stopped (did not finish within 10 s): its calls score 0; the "
                                           "other functions of q6 were graded without it.",
                                   "criteria": [{"name": "glu", "points": 0.0, "max_points": 5.0,
                                                 "message": "glu(1, 2) did not finish in 10 s"},
                                                {"name": "other", "points": 5.0, "max_points": 5.0, "message": ""}]}}}
    text = grading_summary(SubmissionRecord.from_dict(record))
    assert "cell 8 was skipped: it did not finish within 10 s" in text
    assert "cell 3, line 2 raised NameError: name 'q' is not defined" in text
    assert "note: the notebook is nbformat 3" in text
    assert "q6: 1 of 2 criteria failed because a call did not finish in time" in text
    assert "- q6: glu was stopped (did not finish within 10 s)" in text  # the function that hung, by name
    assert text.count("cell 8") == 1


# --- snapshot of the messages above ---------------------------------------------------------------------
SNAPSHOT = ROOT / "tests" / "snapshots" / "otter_messages.md"


def _first_cell_messages(dist, tmp_path: Path) -> list[str]:
    """What the student notebook's first cell prints: without a notebook, with one that lacks the checks'
    metadata, and the hidden-criteria lines after a check (in full, and check_all's short form)."""
    import contextlib
    import io

    nb = json.loads(dist["student"].read_text())
    source = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    out, namespace, here = [], {}, os.getcwd()
    cases = {"no notebook in the folder": None,
             "a notebook without the checks' metadata": {"metadata": {}, "cells": [], "nbformat": 4}}
    for case, notebook in cases.items():
        folder = tmp_path / f"case{len(out)}"
        folder.mkdir(parents=True)
        if notebook is not None:
            (folder / "my_work.ipynb").write_text(json.dumps(notebook))
        namespace = {"__name__": "__main__"}
        printed = io.StringIO()
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(printed):
                exec(source, namespace)  # noqa: S102 - the notebook's own first cell
        finally:
            os.chdir(here)
        out.append(f"- {case}: {printed.getvalue().strip().replace(str(folder), '<folder>')}")
    checks = object.__new__(namespace["_Checks"])
    checks._hidden = nb["metadata"]["activation_grader"]["hidden_criteria"]
    for question, full in (("q8", True), ("q8", False)):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            checks._notice(question, full)
        out += ["", f"After grader.check({question!r}){'' if full else ' in check_all'}:", "", "```",
                printed.getvalue().rstrip(), "```"]
    return out


@pytest.mark.otter
def test_snapshot_of_public_check_and_gradescope_messages(dist, solution_source, tmp_path):
    """Every message of this file's cases a student reads, in one reviewed file.

    After a deliberate change: ``UPDATE_SNAPSHOTS=1 pytest tests/interfaces/test_assignment.py -k snapshot``."""
    import os

    from grader.interfaces.otter_gradescope import main

    lines = ["# Messages students read: public checks and Gradescope results", "",
             "## Public checks, first failure of each silent mistake", ""]
    for mistake in sorted(SILENT_MISTAKES):
        q, _, old, new, *_ = SILENT_MISTAKES[mistake]
        message = _failures(_run_public(dist, _mistake(solution_source, old, new))[q])[0]
        lines += [f"### {mistake} ({q})", "", "```", message.split("AssertionError: ", 1)[-1].strip(), "```", ""]
    blank = _run_public(dist, "import numpy as np\n" + "\n".join(
        f"def {n}(*args, **kwargs):\n    return None" for ex in EXERCISES.values() for n in ex.names))
    lines += ["## Public checks of the blank notebook, first failure per question", ""]
    for q, t in blank.items():
        lines.append(f"- {q}: {_failures(t)[0].split('AssertionError: ', 1)[-1].strip()}")
    lines += ["", "## The notebook's first cell: checks off, and what grades each question", ""]
    lines += _first_cell_messages(dist, tmp_path / "first-cell")
    lines += ["", "## Gradescope results.json of submissions that cannot be graded", ""]
    for case in sorted(BAD_SUBMISSIONS):
        root = tmp_path / case
        (root / "submission").mkdir(parents=True)
        for name, content in BAD_SUBMISSIONS[case][0].items():
            (root / "submission" / name).write_bytes(content)
        main(str(root))
        lines.append(f"- {case}: {json.loads((root / 'results' / 'results.json').read_text())['output']}")
    text = "\n".join(lines) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text(), f"messages changed: UPDATE_SNAPSHOTS=1 to accept ({SNAPSHOT})"


# --- the plugin's seed secret: as `activation-grader grade --seed-secret` takes it --------------------------
@pytest.mark.parametrize("config, env, expected", [
    ({"seed_secret": "from-config"}, None, "from-config"),
    ({}, "from-env", "from-env"),
    ({"seed_secret": "from-config"}, "from-env", "from-config"),  # as a command-line option beats its variable
    ({"seed_secret": None}, "from-env", "from-env"),
    ({"seed_secret": ""}, "from-env", None),  # given, and empty: no secret (`--seed-secret ''`)
    ({}, "", None),
    ({}, None, None),
])
def test_plugin_takes_the_seed_secret_from_its_config_or_the_environment(config, env, expected, monkeypatch):
    from grader.interfaces.otter_plugin import ActivationGraderPlugin
    from grader.rubric.probes import SEED_SECRET_ENV, submission_seed
    from grader.pipeline.tasks import seed_of

    monkeypatch.delenv(SEED_SECRET_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(SEED_SECRET_ENV, env)
    options = ActivationGraderPlugin("sub.ipynb", {}, {"isolation": "auto", **config})._options()
    assert options.seed_secret == expected
    content = b"a submission"
    if expected:
        assert seed_of(content, options) == submission_seed(content, secret=expected)
        assert seed_of(content, options) != submission_seed(content)
    else:
        assert seed_of(content, options) == submission_seed(content)
    with_seed = ActivationGraderPlugin("sub.ipynb", {}, {"seed": 5, **config})._options()
    assert seed_of(content, with_seed) == 5  # an explicit seed wins, as on the command line


def test_plugin_grades_with_the_secret_like_the_command_and_never_writes_it(tmp_path, solution_source, monkeypatch):
    from types import SimpleNamespace

    from grader.interfaces.otter_plugin import ActivationGraderPlugin
    from grader.rubric.probes import SEED_SECRET_ENV
    from grader.reports.files import load_record

    secret = "plugin-secret-8734"
    submission = tmp_path / "mine.py"
    submission.write_text(solution_source.replace("delta = (out - y) / x.shape[0]", "delta = out - y"))
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--out", str(tmp_path / "cli"),
                           "--quiet", "--no-report"], capture_output=True, text=True,
                          env={**os.environ, SEED_SECRET_ENV: secret})
    assert proc.returncode == 0, proc.stderr
    command = load_record(tmp_path / "cli" / "results" / "mine.json")
    monkeypatch.setenv(SEED_SECRET_ENV, secret)
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "auto"})
    plugin.before_grading(SimpleNamespace(grade_from_log=False))
    record = plugin.record
    assert record.provenance.seed == command.provenance.seed
    assert {q: e.score for q, e in record.exercises.items()} == {q: e.score for q, e in command.exercises.items()}
    assert record.score < 100 and secret not in json.dumps(record.to_dict())
    monkeypatch.delenv(SEED_SECRET_ENV)
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "auto"})
    plugin.before_grading(SimpleNamespace(grade_from_log=False))
    assert plugin.record.provenance.seed != command.provenance.seed  # without it: the content's own seed


# --- isolation: the zip requires `uid` unless told otherwise, and a refusal is said, never graded --------
@pytest.mark.parametrize("plugin, expected", [
    ("grader.otter_plugin.ActivationGraderPlugin", {"require_isolation": "uid"}),
    ({"grader.otter_plugin.ActivationGraderPlugin": None}, {"require_isolation": "uid"}),
    ({"grader.otter_plugin.ActivationGraderPlugin": {"isolation": "auto"}}, {"isolation": "auto",
                                                                            "require_isolation": "uid"}),
    ({"grader.otter_plugin.ActivationGraderPlugin": {"require_isolation": "none"}}, {"require_isolation": "none"}),
    ({"grader.otter_plugin.ActivationGraderPlugin": {"require_isolation": "landlock"}},
     {"require_isolation": "landlock"}),
])
def test_the_zip_requires_uid_unless_the_config_lowers_it_explicitly(plugin, expected):
    assert build.require_isolation(plugin) == {"grader.otter_plugin.ActivationGraderPlugin": expected}
    assert build.require_isolation({"other.Plugin": {"x": 1}}) == {"other.Plugin": {"x": 1}}
    # the plugin named by the module it lives in is the same plugin: it is given the same requirement
    inner = "grader.interfaces.otter_plugin.ActivationGraderPlugin"
    renamed = ({inner: plugin["grader.otter_plugin.ActivationGraderPlugin"]} if isinstance(plugin, dict)
               else inner)
    assert build.require_isolation(renamed) == {inner: expected}


def test_both_names_of_the_plugin_load_the_same_class():
    import importlib

    public = importlib.import_module("grader.otter_plugin").ActivationGraderPlugin
    assert public is importlib.import_module("grader.interfaces.otter_plugin").ActivationGraderPlugin
    assert build.PLUGIN == "grader.otter_plugin.ActivationGraderPlugin"


def test_a_refused_isolation_gives_the_instructor_facing_results_json(tmp_path, solution_source, monkeypatch):
    """The worker here gives less than required: the plugin raises, and the zip's entry point writes a
    results.json with 0 that says the submission could not be isolated, addressed to the instructor,
    with the reason and how to lower the requirement; nothing was graded."""
    from types import SimpleNamespace

    import grader.interfaces.otter_plugin as plugin_module
    from grader.interfaces import otter_gradescope
    from grader.interfaces.otter_plugin import ActivationGraderPlugin

    submission = tmp_path / "submission" / "activations.py"
    submission.parent.mkdir()
    submission.write_text(solution_source)
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "none", "require_isolation": "uid"})
    graded = []
    monkeypatch.setattr(plugin_module, "grade_submission", lambda *a: graded.append(a))
    with pytest.raises(Exception) as refused:
        plugin.before_grading(SimpleNamespace(grade_from_log=False))
    assert graded == [] and plugin.record is None
    message = str(refused.value)
    assert "could not be isolated" in message and "For the instructor: the worker's isolation here is 'none'" in message
    assert "require_isolation: landlock" in message

    def otter(autograder_dir, **kwargs):  # Otter's run: the plugin's before_grading raises there
        plugin.before_grading(SimpleNamespace(grade_from_log=False))

    monkeypatch.setattr("otter.run.run_autograder.main", otter)
    monkeypatch.setattr(otter_gradescope, "private_startup_dirs", lambda: None)
    assert otter_gradescope.main(str(tmp_path)) == 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"][0]["score"] == 0
    assert results["output"].startswith("This submission could not be isolated on this grading machine")
    assert "For the instructor" in results["output"] and "OtterRuntimeError" not in results["output"]
    # allowed explicitly, the same submission is graded in full
    plugin = ActivationGraderPlugin(str(submission), {}, {"isolation": "none", "require_isolation": "none"})
    monkeypatch.undo()
    plugin.before_grading(SimpleNamespace(grade_from_log=False))
    assert plugin.record.score == 100 and plugin.record.provenance.isolation == "none"


def test_otters_own_processes_read_startup_files_only_from_a_private_directory(monkeypatch):
    from grader.interfaces import otter_gradescope

    for variable in [*otter_gradescope.STARTUP_VARIABLES, "PYTHONNOUSERSITE"]:
        monkeypatch.delenv(variable, raising=False)
    base = otter_gradescope.private_startup_dirs()
    try:
        assert os.stat(base).st_uid == os.geteuid() and os.stat(base).st_mode & 0o077 == 0
        for variable in otter_gradescope.STARTUP_VARIABLES:
            assert os.path.dirname(os.environ[variable]) == base
        assert os.environ["PYTHONNOUSERSITE"] == "1"
    finally:
        os.rmdir(base)


def test_other_submitted_files_are_set_aside_before_otters_kernel_starts(tmp_path, solution_source, monkeypatch):
    """Otter's kernel (the grader's rights) runs in the submission's directory, which comes first on its
    import path: a submitted ``otter.py`` there would be imported as Otter's own. Before Otter runs,
    everything but the graded file is moved into a directory of the grader's (0700)."""
    from grader.interfaces import otter_gradescope

    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "activations.ipynb").write_text(_notebook(solution_source))
    (sub / "otter.py").write_text("raise SystemExit('imported')\n")
    (sub / "dill").mkdir()
    (sub / "dill" / "__init__.py").write_text("")
    seen = {}

    def otter(autograder_dir, **kwargs):
        seen["files"] = sorted(p.name for p in sub.iterdir())
        raise RuntimeError("stop here")

    monkeypatch.setattr("otter.run.run_autograder.main", otter)
    monkeypatch.setattr(otter_gradescope, "private_startup_dirs", lambda: None)
    otter_gradescope.main(str(tmp_path))
    assert seen["files"] == ["activations.ipynb"]
    aside = tmp_path / "submission-other-files"
    assert sorted(p.name for p in aside.iterdir()) == ["dill", "otter.py"]
    assert aside.stat().st_mode & 0o077 == 0
    assert otter_gradescope.set_aside_other_files(sub / "activations.ipynb") == []  # nothing else: no change


def _notebook(source: str) -> str:
    import nbformat

    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))


@pytest.mark.otter
def test_a_float32_sigmoid_is_caught_in_the_notebook_and_told_why(dist, solution_source):
    """float32 keeps about 7 significant digits, and the grader compares within rtol=1e-7: the public
    check of q1 fails on values where that shows, and says to keep float64."""
    q, _, old, new, *_ = SILENT_MISTAKES["sigmoid_in_float32"]
    messages = _failures(_run_public(dist, _mistake(solution_source, old, new))["q1"])
    assert messages and "your result is float32" in messages[0] and "keep float64 throughout" in messages[0]
