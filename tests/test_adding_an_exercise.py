"""Everything outside an exercise's own files either follows the registry or fails here, saying what to add.

The "Adding an exercise" walkthrough of docs/development.md lists the files a new exercise touches
(its reference functions, its exercise module, its part of the master notebook, its
tests). Everything else is derived from ``grader.rubric.exercises.EXERCISES``: the CSV columns,
the class report, the Otter zip's hidden tests. What cannot be derived (the golden
solution, the samples, the benchmark's class, the expected scores and snapshots) is
checked here, one exercise at a time, with a message that names the file to update.
"""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from conftest import GOLDEN, ROOT, SAMPLES
from grader.rubric.exercise import Exercise
from grader.rubric.exercises import EXERCISES
from helpers import namespace_of

SOLUTION = (GOLDEN / "solution.py").read_text()


def _functions(source: str) -> set[str]:
    return set(re.findall(r"^def (\w+)\(", source, flags=re.M))


def _workload():
    from importlib import util

    spec = util.spec_from_file_location("workload", ROOT / "benchmarks" / "workload.py")
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def problems(ex: Exercise, exercises: dict[str, Exercise]) -> list[str]:
    """What is missing outside the registry for ``ex``, each saying which file to update."""
    out = []
    missing = [n for n in ex.names if n not in _functions(SOLUTION)]
    if missing:
        out.append(f"{ex.id}: define {missing} in tests/golden/solution.py (the golden variants derive from it)")
    nb = nbformat.read(SAMPLES / "alice_correct.ipynb", as_version=4)
    missing = [n for n in ex.names if n not in _functions("\n".join(c.source for c in nb.cells
                                                                     if c.cell_type == "code"))]
    if missing:
        out.append(f"{ex.id}: add {missing} to samples/alice_correct.ipynb, the sample that scores 100")
    expected = json.loads((GOLDEN / "expected.json").read_text())
    stale = sorted(name for name, scores in expected.items() if ex.id not in scores)
    if stale:
        out.append(f"{ex.id}: tests/golden/expected.json has no score for {stale}; run "
                   "UPDATE_SNAPSHOTS=1 pytest tests/pipeline/test_golden.py and review the diff")
    if ex.title not in (ROOT / "tests" / "snapshots" / "solution.md").read_text():
        out.append(f"{ex.id}: tests/snapshots/solution.md does not mention {ex.title!r}; "
                   "UPDATE_SNAPSHOTS=1 pytest tests/pipeline/test_golden.py")
    if not (ROOT / "tests" / "rubric" / f"test_exercise_{ex.id}.py").exists():
        out.append(f"{ex.id}: write tests/rubric/test_exercise_{ex.id}.py: a realistic wrong answer fails each criterion, "
                   "several correct ones pass, trivial answers score 0 (see tests/rubric/test_exercise_q1.py)")
    mistakes = _workload().MISTAKES
    if len(mistakes) != len(exercises):
        out.append(f"benchmarks/workload.py has {len(mistakes)} mistakes for {len(exercises)} exercises: "
                   f"add one realistic mistake for each new exercise")
    return out


@pytest.mark.parametrize("q", EXERCISES)
def test_everything_outside_the_registry_covers_the_exercise(q):
    assert problems(EXERCISES[q], EXERCISES) == []
    ns = namespace_of(SOLUTION)
    assert all(callable(ns[n]) for n in EXERCISES[q].names)


def test_the_benchmark_mistakes_still_apply_to_the_solution():
    stale = [old for old, _ in _workload().MISTAKES if SOLUTION.count(old) != 1]
    assert not stale, f"benchmarks/workload.py: these mistakes no longer apply to tests/golden/solution.py: {stale}"


def test_an_eleventh_exercise_is_told_every_file_to_update():
    q1 = EXERCISES["q1"]
    q11 = Exercise("q11", "Swish with a learnt beta", 5, ("swish", "swish_backward"), q1.plan, q1.criteria)
    found = problems(q11, {**EXERCISES, "q11": q11})
    assert [m.split(":")[0].split(" ")[0] for m in found] == ["q11"] * 5 + ["benchmarks/workload.py"]
    for file in ("tests/golden/solution.py", "samples/alice_correct.ipynb", "tests/golden/expected.json",
                 "tests/snapshots/solution.md", "tests/rubric/test_exercise_q11.py"):
        assert any(file in m for m in found), file


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
