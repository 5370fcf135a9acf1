"""``make derived`` (tests/derive.py) is a faithful generator: on this tree it changes nothing, a derived
file out of date with its sources is named together with the command, and running the command puts it
back as it was; a hand-written source that no longer fits says which file to update."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import derive
from conftest import ROOT

BOB, CAROL = "samples/bob_partly_wrong.ipynb", "samples/carol_blank.ipynb"
STARTER, MASTER = "grader/reports/similarity/starter.py", "assignments/master/activations.ipynb"
SNAPSHOT, EXPECTED = "tests/snapshots/solution.md", "tests/golden/expected.json"


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(repo / "tests" / "derive.py"), *args], cwd=repo,
                          capture_output=True, text=True, timeout=900)


def copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    derive.copy_tree(repo)
    return repo


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def without_ids(text: str) -> str:
    return re.sub(r'"id": "[0-9a-f]+"', '"id": ""', text)


def stale_named(done: subprocess.CompletedProcess) -> list[str]:
    return [line.split(": out of date")[0] for line in done.stdout.splitlines() if ": out of date" in line]


@pytest.mark.slow
@pytest.mark.otter  # the grading step runs the snapshot of the Otter assignment's messages
def test_the_whole_command_changes_nothing_on_this_tree():
    """Run in a scratch copy, grading included: every derived file here is what the command writes."""
    done = run(ROOT, "--check")
    assert done.returncode == 0 and "every derived file is up to date" in done.stdout, done.stdout + done.stderr


def test_stale_samples_starter_and_hidden_tests_are_named_and_written_back(tmp_path):
    repo = copy(tmp_path)
    edit(repo / BOB, "%matplotlib inline", "%matplotlib notebook")                     # a sample edited by hand
    (repo / CAROL).unlink()                                                             # a sample missing
    reference = "REFERENCE: frozenset[int] = frozenset({\n"                                # a hash too many
    edit(repo / STARTER, reference, reference + "    1,\n")
    nb = json.loads((repo / MASTER).read_text(encoding="utf-8"))                        # a hidden test missing
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != "hidden-q3-1"]
    (repo / MASTER).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    edited = (repo / BOB).read_bytes()

    done = run(repo, "--check", "--no-grading")
    assert done.returncode == 1, done.stdout + done.stderr
    assert stale_named(done) == sorted([BOB, CAROL, STARTER, MASTER])
    assert "run `make derived`" in done.stdout
    assert (repo / BOB).read_bytes() == edited and not (repo / CAROL).exists()  # --check writes nothing

    done = run(repo, "--no-grading")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(re.findall(r"^wrote (\S+)$", done.stdout, re.M)) == sorted([BOB, CAROL, STARTER, MASTER])
    for name in (BOB, STARTER, MASTER):
        assert (repo / name).read_bytes() == (ROOT / name).read_bytes(), name
    # made from nothing: the same notebook, its cell ids new
    assert without_ids((repo / CAROL).read_text()) == without_ids((ROOT / CAROL).read_text())
    assert (repo / CAROL).read_bytes() != (ROOT / CAROL).read_bytes()
    assert run(repo, "--check", "--no-grading").returncode == 0


def test_a_change_of_the_solution_reaches_the_samples(tmp_path):
    repo = copy(tmp_path)
    edit(repo / "tests" / "golden" / "solution.py", "def tanh_derivative(x):\n    return 1.0 - np.tanh(x) ** 2\n",
         "def tanh_derivative(x):\n    t = np.tanh(x)\n    return 1.0 - t * t\n")
    done = run(repo, "--check", "--no-grading")
    assert stale_named(done) == ["samples/alice_correct.ipynb", BOB], done.stdout + done.stderr
    assert run(repo, "--no-grading").returncode == 0
    for name in ("samples/alice_correct.ipynb", BOB):
        cells = json.loads((repo / name).read_text())["cells"]
        assert any("".join(c["source"]).startswith("def sigmoid(x):") and "    t = np.tanh(x)\n" in "".join(c["source"])
                   for c in cells), name


def test_a_benchmark_mistake_that_no_longer_applies_names_the_file_to_update(tmp_path):
    repo = copy(tmp_path)
    edit(repo / "tests" / "golden" / "solution.py", "    s = sigmoid(x)\n    return s * (1.0 - s)\n",
         "    return sigmoid(x) * (1.0 - sigmoid(x))\n")
    done = run(repo, "--no-grading")
    assert done.returncode == 1
    assert "benchmarks/workload.py" in done.stderr and "occurs 0 times" in done.stderr and "MISTAKES" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.otter
def test_a_stale_snapshot_and_expected_score_are_named(tmp_path):
    repo = copy(tmp_path)
    (repo / SNAPSHOT).write_text((repo / SNAPSHOT).read_text() + "an edit by hand\n")
    scores = json.loads((repo / EXPECTED).read_text())
    scores["solution.py"]["q1"] = 9.5
    (repo / EXPECTED).write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")
    done = run(repo, "--check")
    assert done.returncode == 1 and stale_named(done) == [EXPECTED, SNAPSHOT], done.stdout + done.stderr
    assert "run `make derived`" in done.stdout


def test_cell_ids_are_kept_by_source_then_by_place_and_new_ones_are_distinct():
    old = [("# title", "aaaa0001"), ("import numpy as np", "aaaa0002"), ("def f(x):\n    return x", "aaaa0003")]
    sources = [s for s, _ in old]
    assert derive.cell_ids(sources, old) == ["aaaa0001", "aaaa0002", "aaaa0003"]
    # a cell edited in place keeps its id; cells moved keep theirs
    assert derive.cell_ids(["# title", "import numpy", sources[2]], old) == ["aaaa0001", "aaaa0002", "aaaa0003"]
    assert derive.cell_ids([sources[0], sources[2], sources[1]], old) == ["aaaa0001", "aaaa0003", "aaaa0002"]
    # a cell inserted gets a new id, the others keep theirs
    ids = derive.cell_ids(["# title", "%matplotlib inline", *sources[1:]], old)
    assert ids[0] == "aaaa0001" and ids[2:] == ["aaaa0002", "aaaa0003"] and ids[1] not in ("aaaa0002", "aaaa0003")
    # from nothing: hashed, the same every time, no two alike even for equal sources
    fresh = derive.cell_ids(["x = 1", "x = 1", "y = 2"], [])
    assert fresh == derive.cell_ids(["x = 1", "x = 1", "y = 2"], []) and len(set(fresh)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in fresh)


def test_a_master_question_the_contract_does_not_know_names_the_master(tmp_path):
    repo = copy(tmp_path)
    contract = repo / "docs" / "contract.md"
    contract.write_text("".join(line for line in contract.read_text().splitlines(keepends=True)
                                if not line.startswith("| q3 |")))
    done = run(repo, "--no-grading")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("assignments/master/activations.ipynb: question 'q3' is not an exercise of the contract")
