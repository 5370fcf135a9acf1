"""Every file that follows from the exercises and the golden solution, written from them by one command.

    python tests/derive.py [--check] [--no-grading]        (``make derived``)

A new exercise is written by hand only where nothing can derive it (docs/development.md, "Adding an
exercise"); this writes the rest, in the order each step needs the one before:

1. the master notebook's hidden tests, one per criterion of each exercise
   (``assignments/build.py --sync``);
2. ``grader/reports/similarity/starter.py``: the student notebook's code and the reference's
   fingerprint hashes, from the master notebook;
3. ``samples/*.ipynb`` from ``tests/golden/solution.py``: the solution (``alice_correct``), the
   solution with the benchmark's mistakes of four exercises (``bob_partly_wrong``, the mistakes
   of ``benchmarks/workload.py``), every function as a stub (``carol_blank``), and a file cut
   short (``dave_damaged``, the same whatever the exercises);
4. by grading: ``tests/golden/expected.json`` and ``tests/snapshots/*.md``, which the snapshot tests
   write when ``UPDATE_SNAPSHOTS=1`` (``SNAPSHOT_TESTS``); ``--no-grading`` leaves this step out.

A file is written only when its content changes, so on an up-to-date tree the command changes
nothing. Notebook cell ids are kept from the file being replaced (by source, else by place; a new
cell's id is a hash of its source), so a sample changes only where its code does.

``--check`` writes nothing here: it runs the same steps in a scratch copy of the repository (the
files git knows of, as they are in the working tree) and names every file whose content they would
change, exiting 1; the generator is checked by being run, not by a second description of it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from importlib import util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "make derived"
SAMPLES = ROOT / "samples"
MASTER = ROOT / "assignments" / "master" / "activations.ipynb"
STARTER = ROOT / "grader" / "reports" / "similarity" / "starter.py"
STARTER_MARK = "# generated: do not edit by hand"
#: The tests that write the snapshots and expected scores under UPDATE_SNAPSHOTS=1.
SNAPSHOT_TESTS = (
    "tests/pipeline/test_golden.py",
    "tests/pipeline/test_reading.py::test_snapshot_of_every_reading_message",
    "tests/rubric/test_array_likes.py::test_snapshot_of_the_messages_about_what_was_returned",
    "tests/interfaces/test_assignment.py::test_snapshot_of_public_check_and_gradescope_messages",
)
#: What the grading step writes, for the messages that name derived files.
GRADED_FILES = ("tests/golden/expected.json", "tests/snapshots/*.md")

TITLE = "# Activation functions: my solutions"
#: The exercises whose benchmark mistake the partly wrong sample makes.
PARTLY_WRONG = ("q1", "q2", "q4", "q9")
#: The damaged sample: a notebook's JSON cut short.
DAMAGED = b'{"cells": [{"cell_type": "code", "source": "import numpy as np\\ndef sigmoid(x):'
#: Scratch files a run may leave in a copy, never compared.
SCRATCH = ("__pycache__", ".pytest_cache", ".hypothesis")


class StaleSource(Exception):
    """A hand-written source no longer fits another (a benchmark mistake, a variant's edit)."""


def _module(name: str, path: Path) -> ModuleType:
    """A script of the repository (``benchmarks/workload.py``, ``assignments/build.py``) as a module."""
    spec = util.spec_from_file_location(name, path)
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the samples --------------------------------------------------------------------------------------
def _old_cells(path: Path) -> list[tuple[str, str]]:
    """(source, id) of each cell of the notebook at ``path`` (none if it is not a notebook)."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [("".join(c["source"]) if isinstance(c["source"], list) else c["source"], str(c["id"])) for c in cells]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def cell_ids(sources: list[str], old: list[tuple[str, str]]) -> list[str]:
    """An id for each cell of ``sources``: the id of an old cell of the same source; else that of the old cell
    at the same place whose source changed; else one hashed from the source. No two alike."""
    ids: list[str | None] = [None] * len(sources)
    free = list(range(len(old)))
    for i, source in enumerate(sources):
        same = next((k for k in free if old[k][0] == source), None)
        if same is not None:
            ids[i] = old[same][1]
            free.remove(same)
    for i, source in enumerate(sources):
        if ids[i] is None and i in free:
            ids[i] = old[i][1]
            free.remove(i)
    taken = {found for found in ids if found}
    for i, source in enumerate(sources):
        if ids[i] is None:
            found = hashlib.sha256(source.encode()).hexdigest()[:8]
            while found in taken:
                found = hashlib.sha256(found.encode()).hexdigest()[:8]
            ids[i] = found
            taken.add(found)
    return ids


def notebook(path: Path, code: Iterable[str], title: str = TITLE) -> bytes:
    """A notebook of a title and ``code`` cells, as nbformat writes it, its cell ids kept from the notebook
    now at ``path`` (:func:`cell_ids`), so that regenerating it changes only the cells whose code changed."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    sources = [title, *code]
    ids = cell_ids(sources, _old_cells(path))
    nb = new_notebook(cells=[new_markdown_cell(title, id=ids[0])]
                      + [new_code_cell(source, id=found) for source, found in zip(sources[1:], ids[1:])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return (nbformat.writes(nb) + "\n").encode()


def samples() -> dict[Path, bytes]:
    """The four samples, from the golden solution and the benchmark's mistakes."""
    from variants import SOLUTION, EditDoesNotApply, derive

    from grader.rubric.exercises import EXERCISES

    workload = _module("workload", ROOT / "benchmarks" / "workload.py")
    solution = SOLUTION.read_text()
    for good, _ in workload.MISTAKES:
        if solution.count(good) != 1:
            raise StaleSource(f"benchmarks/workload.py: the mistake {good!r} occurs {solution.count(good)} times in "
                              "tests/golden/solution.py (expected once): update MISTAKES to match the solution")
    chosen = []
    for q in PARTLY_WRONG:
        made_in_q = [m for m in workload.MISTAKES if workload.function_holding(m[0], solution) in EXERCISES[q].names]
        if not made_in_q:
            raise StaleSource(f"benchmarks/workload.py: MISTAKES has none in the functions of {q}, whose mistake "
                              "samples/bob_partly_wrong.ipynb makes (PARTLY_WRONG in tests/derive.py)")
        chosen.append(made_in_q[0])
    try:
        wrong = derive(solution, tuple(chosen), variant="bob_partly_wrong")
    except EditDoesNotApply as stale:
        raise StaleSource(f"benchmarks/workload.py: the mistakes of {PARTLY_WRONG} overlap ({stale.old!r})") from None
    made = {
        "alice_correct.ipynb": lambda path: notebook(path, workload.cells_of(solution)),
        "bob_partly_wrong.ipynb": lambda path: notebook(path, ["%matplotlib inline", *workload.cells_of(wrong)]),
        "carol_blank.ipynb": lambda path: notebook(path, workload.stubs(solution)),
        "dave_damaged.ipynb": lambda path: DAMAGED,
    }
    return {SAMPLES / name: make(SAMPLES / name) for name, make in made.items()}


# --- the master's hidden tests and the similarity starter -----------------------------------------------
def master() -> dict[Path, bytes]:
    """The master notebook with its hidden tests in step with the exercises' criteria."""
    build = _module("build", ROOT / "assignments" / "build.py")
    try:
        synced, problems = build.sync_hidden_tests(json.loads(MASTER.read_text(encoding="utf-8")))
    except build.BuildError as error:  # a question the contract or the registry does not know, or other points
        raise StaleSource(f"assignments/master/activations.ipynb: {error}") from None
    if not problems:
        return {MASTER: MASTER.read_bytes()}
    return {MASTER: (json.dumps(synced, indent=1, ensure_ascii=False) + "\n").encode()}


def starter() -> dict[Path, bytes]:
    """grader/reports/similarity/starter.py with its generated part made from the master notebook."""
    from grader.reports.similarity.compute import generated_starter

    head, _, _ = STARTER.read_text(encoding="utf-8").partition(STARTER_MARK)
    return {STARTER: (head + generated_starter(json.loads(MASTER.read_text(encoding="utf-8")))).encode()}


#: The steps written in this process, in order (each may read what the one before wrote).
STEPS: tuple[Callable[[], dict[Path, bytes]], ...] = (master, starter, samples)


def write(files: dict[Path, bytes]) -> list[Path]:
    """Write each file whose content differs; returns those written."""
    changed = [path for path, content in files.items() if not path.is_file() or path.read_bytes() != content]
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[path])
    return changed


def grade_snapshots() -> None:
    """Run the snapshot tests with UPDATE_SNAPSHOTS=1: they grade the golden submissions and the samples
    and write what they read (PYTEST_ADDOPTS is the caller's, not this run's)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["UPDATE_SNAPSHOTS"] = "1"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SNAPSHOT_TESTS],
                          cwd=ROOT, env=env)
    if done.returncode:
        raise SystemExit(f"the snapshot tests failed under UPDATE_SNAPSHOTS=1 (above): {', '.join(GRADED_FILES)} "
                         "may be partly written")


def generate(grading: bool = True) -> list[str]:
    """Every step, here; returns the files written by the steps run in this process."""
    written = []
    for step in STEPS:
        written += [str(p.relative_to(ROOT)) for p in write(step())]
    if grading:
        grade_snapshots()
    return written


# --- --check: the same steps in a scratch copy ------------------------------------------------------------
#: What a copy of a tree that is not a git checkout leaves out (what .gitignore names, and git's own).
NOT_COPIED = (".git", ".venv", "*.egg-info", "build", "dist", "wheels", "out", "gradescope-results", *SCRATCH)


def repository_files(root: Path = ROOT) -> list[str] | None:
    """The files git knows of (tracked, or new and not ignored), as they are in the working tree; None
    where ``root`` is not a git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({f for f in listed if f and ((root / f).is_file() or (root / f).is_symlink())})


def copy_tree(into: Path) -> None:
    """This tree's files into ``into``: those git knows of, or all but ``NOT_COPIED`` outside a checkout."""
    names = repository_files()
    if names is None:
        shutil.copytree(ROOT, into, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
        return
    for name in names:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, into / name, follow_symlinks=False)


def _tree(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` (no symbolic link followed, no scratch file), by relative path."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SCRATCH]
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


def stale(grading: bool = True) -> list[str]:
    """The files that running the steps would change (or add), found by running them in a scratch copy."""
    with tempfile.TemporaryDirectory(prefix="derive-check-") as scratch:
        copy = Path(scratch) / "repo"
        copy_tree(copy)
        before = _tree(copy)
        flags = [] if grading else ["--no-grading"]
        run = subprocess.run([sys.executable, str(copy / "tests" / "derive.py"), *flags], cwd=copy,
                             capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"{COMMAND} fails in a copy of this tree:\n{run.stdout[-4000:]}{run.stderr[-4000:]}")
        after = _tree(copy)
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing: name the files that are out of date with their sources (exit 1)")
    parser.add_argument("--no-grading", action="store_true",
                        help=f"leave out the step that grades ({', '.join(GRADED_FILES)})")
    args = parser.parse_args(argv)
    for path in (ROOT / "tests", ROOT):  # this tree's variants and grader, not the installed one
        sys.path.insert(0, str(path))
    if args.check:
        found = stale(grading=not args.no_grading)
        for name in found:
            print(f"{name}: out of date with its sources")
        if found:
            print(f"run `{COMMAND}` (python tests/derive.py) to regenerate them, then review the diff")
            return 1
        print("every derived file is up to date")
        return 0
    try:
        written = generate(grading=not args.no_grading)
    except StaleSource as problem:
        print(problem, file=sys.stderr)
        return 1
    print("\n".join(f"wrote {name}" for name in written) or "the samples, master and starter were up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
