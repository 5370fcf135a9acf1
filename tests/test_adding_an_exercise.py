"""What a new exercise writes by hand, what one command derives, and a message for each that is missing.

An exercise is written by hand only where nothing can derive it (``BY_HAND``, the list of README's and
docs/development.md's "Adding an exercise"); ``make derived`` (tests/derive.py) writes every file that
follows from those (``DERIVED``); everything else reads the registry, ``grader.rubric.exercises.EXERCISES``
(the CSV columns, the class report, the Otter zip's hidden tests). ``problems`` checks both, one
exercise at a time, and says which file to write or that the command is to be run.
"""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from conftest import GOLDEN, ROOT, SAMPLES
from grader.rubric.exercise import Exercise
from grader.rubric.exercises import EXERCISES
from helpers import grade_quietly, namespace_of, points
from test_contract import contract_rows
from variants import derive

SOLUTION = (GOLDEN / "solution.py").read_text()
MASTER = ROOT / "assignments" / "master" / "activations.ipynb"
COMMAND = "make derived"

#: What an exercise writes by hand, in the order of the "Adding an exercise" lists: (file, what).
BY_HAND = (
    ("reference/forward.py", "its forward functions; its answer keys in reference/keys.py, by autograd"),
    ("grader/rubric/exercises/qNN_<topic>.py", "its exercise module: EXERCISE, plan(seed), criteria"),
    ("assignments/master/activations.ipynb", "its question: prompt, solution, public checks"),
    ("docs/contract.md", "its row: id, points, title, names"),
    ("tests/golden/solution.py", "its functions, correct"),
    ("tests/rubric/test_exercise_qN.py", "its tests"),
    ("benchmarks/workload.py", "one realistic mistake in MISTAKES"),
)
#: What `make derived` writes from them (tests/derive.py).
DERIVED = ("assignments/master/activations.ipynb", "grader/reports/similarity/starter.py", "samples/",
           "tests/golden/expected.json", "tests/snapshots/")


def _functions(source: str) -> set[str]:
    return set(re.findall(r"^def (\w+)\(", source, flags=re.M))


def _code(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _workload():
    from importlib import util

    spec = util.spec_from_file_location("workload", ROOT / "benchmarks" / "workload.py")
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _master_question(q: str) -> bool:
    nb = json.loads(MASTER.read_text(encoding="utf-8"))
    return any(c["cell_type"] == "raw" and re.search(rf"^name:\s*{q}\s*$", "".join(c["source"]), re.M)
               for c in nb["cells"])


def mistakes_of(ex: Exercise) -> list[tuple[str, str]]:
    """The benchmark's mistakes made in the functions of ``ex``."""
    workload = _workload()
    return [m for m in workload.MISTAKES if workload.function_holding(m[0], SOLUTION) in ex.names]


def by_hand(ex: Exercise) -> list[str]:
    """What ``ex`` still needs written by hand, each message starting with the file to write."""
    out = []
    if not _master_question(ex.id) or not set(ex.names) <= _functions(_code(MASTER)):
        out.append(f"assignments/master/activations.ipynb: add question {ex.id} (its BEGIN QUESTION cell named "
                   f"{ex.id}, its prompt, a solution defining {list(ex.names)}, its public checks)")
    if ex.id not in contract_rows():
        out.append(f"docs/contract.md: add the row of {ex.id} to the table of exercises (id, points, title, names)")
    missing = [n for n in ex.names if n not in _functions(SOLUTION)]
    if missing:
        out.append(f"tests/golden/solution.py: define {missing}, correct, in a cell of their own (the samples "
                   "and the golden variants derive from it)")
    if not (ROOT / "tests" / "rubric" / f"test_exercise_{ex.id}.py").exists():
        out.append(f"tests/rubric/test_exercise_{ex.id}.py: write it: a realistic wrong answer fails each criterion, "
                   "several correct ones pass, trivial answers score 0 (see tests/rubric/test_exercise_q1.py)")
    if not mistakes_of(ex):
        out.append(f"benchmarks/workload.py: add to MISTAKES one realistic mistake in {' or '.join(ex.names)}: "
                   "(correct text, wrong text), an edit of tests/golden/solution.py whose correct text occurs there "
                   "once, at the end of the list")
    return out


def not_derived(ex: Exercise) -> list[str]:
    """The derived files that do not cover ``ex`` yet."""
    out = []
    if not set(ex.names) <= _functions(_code(SAMPLES / "alice_correct.ipynb")):
        out.append("samples/alice_correct.ipynb")
    hidden = sum(f"check_criterion(env, {ex.id!r}," in "".join(c["source"])
                 for c in json.loads(MASTER.read_text(encoding="utf-8"))["cells"])
    if hidden != len(ex.criteria):
        out.append("assignments/master/activations.ipynb (its hidden tests)")
    from grader.reports.similarity.starter import CELLS
    if not all(any(f"def {n}(" in c for c in CELLS) for n in ex.names):
        out.append("grader/reports/similarity/starter.py")
    expected = json.loads((GOLDEN / "expected.json").read_text())
    if any(ex.id not in scores for scores in expected.values()):
        out.append("tests/golden/expected.json")
    if ex.title not in (ROOT / "tests" / "snapshots" / "solution.md").read_text():
        out.append("tests/snapshots/solution.md")
    return out


def problems(ex: Exercise) -> list[str]:
    """What is missing for ``ex``: first what to write by hand, then the command, if any derived file lags."""
    out = by_hand(ex)
    stale = not_derived(ex)
    if stale:
        then = " once the files above are written" if out else ""
        out.append(f"{COMMAND}: run it (python tests/derive.py){then} and review the diff: {', '.join(stale)} "
                   f"do not cover {ex.id} yet")
    return out


@pytest.mark.parametrize("q", EXERCISES)
def test_everything_outside_the_registry_covers_the_exercise(q):
    assert problems(EXERCISES[q]) == []
    ns = namespace_of(SOLUTION)
    assert all(callable(ns[n]) for n in EXERCISES[q].names)


def test_an_eleventh_exercise_is_told_what_to_write_then_the_command():
    q1 = EXERCISES["q1"]
    q11 = Exercise("q11", "Swish with a learnt beta", 5, ("swish", "swish_backward"), q1.plan, q1.criteria)
    found = problems(q11)
    assert [m.split(":")[0] for m in found] == [f.replace("qN", "q11") for f, _ in BY_HAND[2:]] + [COMMAND]
    assert "swish" in found[0] and "swish" in found[2] and "add to MISTAKES" in found[4]
    for file in ("samples/alice_correct.ipynb", "tests/golden/expected.json", "tests/snapshots/solution.md",
                 "grader/reports/similarity/starter.py", "hidden tests"):
        assert file in found[-1], file
    # an exercise whose hand-written part is done but not derived yet is told only the command
    done = Exercise("q1", "Saturating activations, renamed", 10, q1.names, q1.plan, q1.criteria[:-1])
    assert [m.split(":")[0] for m in problems(done)] == [COMMAND]
    assert "hidden tests" in problems(done)[0] and "tests/snapshots/solution.md" in problems(done)[0]


def _section(text: str, heading: str) -> str:
    return text.split(heading, 1)[1].split("\n#", 1)[0]


@pytest.mark.parametrize("page, heading", [("README.md", "## Adding an exercise"),
                                           ("docs/development.md", "## Adding an exercise")])
def test_the_adding_an_exercise_lists_are_what_this_test_checks(page, heading):
    section = _section((ROOT / page).read_text(encoding="utf-8"), heading)
    listed = [m.group(1) for m in re.finditer(r"^\d+\. .*?`([\w/<>.]+)`", section, re.M)]
    assert listed == [f for f, _ in BY_HAND], f"{page}: {heading!r} lists {listed}, BY_HAND {[f for f, _ in BY_HAND]}"
    assert COMMAND in section and all(f in section for f in DERIVED), f"{page}: name `{COMMAND}` and {DERIVED}"


# --- the benchmark's mistakes: written by hand, one per exercise, each a real mistake of it ---------------
def test_each_benchmark_mistake_applies_once_inside_the_functions_of_one_exercise():
    workload = _workload()
    for old, _ in workload.MISTAKES:
        assert SOLUTION.count(old) == 1, (f"benchmarks/workload.py: the mistake {old!r} no longer applies to "
                                          f"tests/golden/solution.py (it occurs {SOLUTION.count(old)} times)")
        assert any(workload.function_holding(old, SOLUTION) in ex.names for ex in EXERCISES.values()), (
            f"benchmarks/workload.py: the mistake {old!r} is in no exercise's function")
    assert {q: len(mistakes_of(ex)) for q, ex in EXERCISES.items()} == {q: 1 for q in EXERCISES}


@pytest.mark.parametrize("q", EXERCISES)
def test_each_benchmark_mistake_costs_points_in_its_exercise(q):
    (mistake,) = mistakes_of(EXERCISES[q])
    wrong = derive(SOLUTION, (mistake,), variant=f"the benchmark's mistake of {q}")
    assert points(grade_quietly(q, SOLUTION)) == EXERCISES[q].points
    assert points(grade_quietly(q, wrong)) < EXERCISES[q].points


def test_function_holding_finds_the_function_that_holds_a_text():
    holding = _workload().function_holding
    source = "# %%\ndef f(x):\n    return x + 1\n\n\ndef g(x):\n    return x\n# %%\ny = 2\n"
    assert holding("x + 1", source) == "f" and holding("return x\n", source) == "g"
    assert holding("y = 2", source) is None and holding("absent", source) is None


def test_the_registry_is_every_numbered_module_and_refuses_a_wrong_number(monkeypatch):
    import sys
    import types

    import grader.rubric.exercises as registry
    from grader.core.errors import GraderError

    assert registry.module_names() == sorted(registry.module_names())
    assert [int(n[1:3]) for n in registry.module_names()] == [ex.number for ex in EXERCISES.values()]
    fake = types.ModuleType("grader.rubric.exercises.q11_swish")
    q1 = EXERCISES["q1"]
    fake.EXERCISE = Exercise("q12", "Swish", 5, ("swish",), q1.plan, q1.criteria)
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(registry, "module_names", lambda: ["q11_swish"])
    with pytest.raises(GraderError, match=r"q11_swish.py defines 'q12'.*defines q11"):
        registry._load()
    fake.EXERCISE = Exercise("q11", "Swish", 5, ("swish",), q1.plan, q1.criteria)
    assert list(registry._load()) == ["q11"]
