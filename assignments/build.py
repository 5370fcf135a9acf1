#!/usr/bin/env python3
"""Build the Otter assignment into assignments/dist/: the student notebook and the autograder zip.

    python assignments/build.py [--out DIR] [--sync] [--no-run-tests]

Input: the Otter master notebook ``assignments/master/activations.ipynb``. Its hidden
tests are one test case per criterion of ``grader.exercises`` (same order, same points),
each calling :func:`grader.otter_plugin.check_criterion`; ``--sync`` rewrites them from
the exercises, and without it the build stops if they are out of date.

Steps: stage a copy of the master next to ``activation-grader/`` (this project's
pyproject.toml, README.md, grader/ and reference/, which the zip ships for Gradescope to
pip-install), run ``otter assign --no-pdfs`` there, then write, reproducibly:

    DIR/student/activations.ipynb                the notebook students get
    DIR/autograder/activations-autograder.zip    upload to Gradescope, or use with `otter run`
    DIR/autograder/activations-solution.ipynb    the solutions notebook (instructors only)

The zip's environment files are this project's (``assignments/autograder/``), not the ones Otter
generates: ``setup.sh`` installs only what is missing (nothing on the project's image) and never
LaTeX; ``run_autograder`` and ``run_otter.py`` go through :mod:`grader.otter_gradescope`, which
leaves a results.json for every submission and works around Otter 7.0.0's empty
``submission_metadata.json`` under ``otter grade``; ``requirements.txt`` is pyproject.toml's
dependencies plus the Otter-Grader version that built the zip; ``otter_config.json`` loses
``assignment_name`` (the contract: a submission is any notebook defining the names).

Two builds from the same sources give byte-identical files: notebook cell ids are derived
from their position, and the zip is rewritten with sorted members, a fixed timestamp
(1980-01-01) and fixed permissions.
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
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "assignments" / "master" / "activations.ipynb"
DIST = ROOT / "assignments" / "dist"
NOTEBOOK = "activations.ipynb"
ZIP_NAME = "activations-autograder.zip"
SOLUTION_NAME = "activations-solution.ipynb"
PAYLOAD = "activation-grader"  # the directory name the master's config refers to
PAYLOAD_FILES = ("pyproject.toml", "README.md")
PAYLOAD_PACKAGES = ("grader", "reference")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
AUTOGRADER_FILES = ROOT / "assignments" / "autograder"  # setup.sh, run_autograder, run_otter.py
EXECUTABLE = ("setup.sh", "run_autograder")

#: Points per exercise in the contract (/work/shared/spec/exercises.md); 100 in all.
CONTRACT_POINTS = {"q1": 10, "q2": 10, "q3": 8, "q4": 10, "q5": 10, "q6": 10, "q7": 8, "q8": 8, "q9": 12, "q10": 14}
HIDDEN_MARK = "from grader.otter_plugin import check_criterion"

if str(ROOT) not in sys.path:  # grader.exercises, when the project is not installed
    sys.path.insert(0, str(ROOT))


class BuildError(Exception):
    pass


# --- the master notebook's hidden tests -------------------------------------------------------------
def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _first_line(cell: dict) -> str:
    return _source(cell).lstrip().split("\n", 1)[0].strip().lower()


def hidden_test_source(q: str, index: int, criterion) -> str:
    """The hidden test case for criterion ``index`` of exercise ``q``."""
    return "\n".join([
        '""" # BEGIN TEST CONFIG',
        "hidden: true",
        f"points: {json.dumps(criterion.points)}",
        '""" # END TEST CONFIG',
        f"def test_{q}_criterion_{index + 1}(env):",
        f"    {criterion.name!r}",
        f"    {HIDDEN_MARK}",
        f"    check_criterion(env, {q!r}, {index}, {criterion.name!r})",
    ])


def _hidden_cell(q: str, index: int, source: str) -> dict:
    lines = source.split("\n")
    return {"cell_type": "code", "id": f"hidden-{q}-{index + 1}", "metadata": {}, "execution_count": None,
            "outputs": [], "source": [line + "\n" for line in lines[:-1]] + [lines[-1]]}


def sync_hidden_tests(nb: dict) -> tuple[dict, list[str]]:
    """``nb`` with each question's hidden tests regenerated; and what differed (empty: in sync)."""
    import yaml

    from grader.exercises import EXERCISES

    problems, cells, seen = [], [], []
    question, in_tests, old = None, False, []
    for cell in nb["cells"]:
        first = _first_line(cell) if cell["cell_type"] == "raw" else ""
        if first.startswith("# begin question"):
            config = yaml.safe_load(_source(cell)) or {}
            question = str(config.get("name"))
            if question not in CONTRACT_POINTS:
                raise BuildError(f"question {question!r} is not an exercise of the contract")
            if config.get("points") != CONTRACT_POINTS[question]:
                raise BuildError(f"{question}: the master says {config.get('points')} points, the contract "
                                 f"{CONTRACT_POINTS[question]}")
            seen.append(question)
        elif first.startswith("# end question"):
            question = None
        elif first.startswith("# begin tests"):
            in_tests, old = True, []
        elif first.startswith("# end tests"):
            ex = EXERCISES.get(question)
            if ex is None:
                raise BuildError(f"{question}: not in grader.exercises")
            total = sum(c.points for c in ex.criteria)
            if ex.points != CONTRACT_POINTS[question] or abs(total - ex.points) > 1e-9:
                raise BuildError(f"{question}: grader.exercises gives {ex.points} points with criteria summing "
                                 f"to {total:g}; the contract says {CONTRACT_POINTS[question]}")
            new = [hidden_test_source(question, i, c) for i, c in enumerate(ex.criteria)]
            if new != old:
                problems.append(f"{question}: {len(old)} hidden test(s) in the master, {len(new)} criteria"
                                + (" (different names or points)" if len(new) == len(old) else ""))
            cells += [_hidden_cell(question, i, s) for i, s in enumerate(new)]
            in_tests = False
        if in_tests and cell["cell_type"] == "code" and HIDDEN_MARK in _source(cell):
            old.append(_source(cell).rstrip("\n"))
            continue
        cells.append(cell)
    if seen != list(CONTRACT_POINTS):
        raise BuildError(f"the master's questions are {seen}, expected {list(CONTRACT_POINTS)}")
    return {**nb, "cells": cells}, problems


def check_master(sync: bool = False) -> list[str]:
    """Verify (or with ``sync`` rewrite) the master's hidden tests; returns what was out of date."""
    nb = json.loads(MASTER.read_text(encoding="utf-8"))
    synced, problems = sync_hidden_tests(nb)
    if problems and sync:
        MASTER.write_text(json.dumps(synced, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return problems


# --- staging and running otter assign ---------------------------------------------------------------
def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo")) or n.startswith(".")}


def stage(into: Path) -> Path:
    """The master and the project payload in a fresh directory; returns the master's copy."""
    payload = into / PAYLOAD
    payload.mkdir(parents=True)
    for name in PAYLOAD_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, payload / name)
    for package in PAYLOAD_PACKAGES:
        shutil.copytree(ROOT / package, payload / package, ignore=_ignore)
    master = into / NOTEBOOK
    shutil.copy2(MASTER, master)
    return master


def run_otter_assign(master: Path, result: Path, run_tests: bool) -> None:
    cmd = [sys.executable, "-m", "otter", "assign", "--no-pdfs", *([] if run_tests else ["--no-run-tests"]),
           master.name, str(result)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, cwd=master.parent, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BuildError(f"otter assign failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


# --- reproducible outputs ---------------------------------------------------------------------------
def normalise_notebook(src: Path, dst: Path) -> None:
    """Rewrite a notebook with cell ids derived from position (Otter's own cells get random ones)."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        for i, cell in enumerate(nb["cells"]):
            cell["id"] = f"cell-{i:03d}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def otter_version() -> str:
    from importlib.metadata import version

    return version("otter-grader")


def zip_requirements() -> list[str]:
    """What the grading environment needs: the project's dependencies and its ``otter`` extra, with
    otter-grader pinned to the version that generated the zip (its run_autograder is version-bound)."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    reqs = list(project.get("dependencies", []))
    reqs += project.get("optional-dependencies", {}).get("otter", [])
    out: list[str] = []
    for req in reqs:
        if req.replace(" ", "").lower().startswith("otter-grader"):
            req = f"otter-grader[grading]=={otter_version()}"
        if req not in out:
            out.append(req)
    return out


ENVIRONMENT_YML = """\
# The conda environment setup.sh creates only where no Python already satisfies requirements.txt
# (setup.sh then pip-installs requirements.txt into it).
name: otter-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
"""


def autograder_overrides(config: dict) -> dict[str, bytes]:
    """The zip members this project replaces or adds (see the module docstring)."""
    from otter.generate import MINIFORGE_VERSION

    files = {name: (AUTOGRADER_FILES / name).read_text(encoding="utf-8")
             for name in ("setup.sh", "run_autograder", "run_otter.py")}
    files["setup.sh"] = files["setup.sh"].replace("@MINIFORGE_VERSION@", MINIFORGE_VERSION)
    files["environment.yml"] = ENVIRONMENT_YML
    files["requirements.txt"] = "".join(f"{r}\n" for r in zip_requirements())
    config = {k: v for k, v in config.items() if k != "assignment_name"}
    files["otter_config.json"] = json.dumps(config, indent=2) + "\n"
    return {name: text.encode("utf-8") for name, text in files.items()}


def normalise_zip(src: Path, dst: Path, overrides: dict[str, bytes] | None = None) -> None:
    """Rewrite a zip with sorted members, a fixed timestamp and fixed permissions (and ``overrides``)."""
    overrides = overrides or {}
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        names = {n for n in zin.namelist() if not n.endswith("/")} | set(overrides)
        for name in sorted(names):
            if name in overrides:
                data, executable = overrides[name], name in EXECUTABLE
            else:
                data = zin.read(name)
                executable = bool((zin.getinfo(name).external_attr >> 16) & 0o111)
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zout.writestr(info, data)


def build(out: Path = DIST, run_tests: bool = True, sync: bool = False) -> dict[str, Path]:
    """Build the assignment into ``out`` (its student/ and autograder/ are replaced)."""
    problems = check_master(sync=sync)
    if problems and not sync:
        raise BuildError("the master's hidden tests do not match grader.exercises:\n  " + "\n  ".join(problems)
                         + "\nrun `python assignments/build.py --sync` to regenerate them")
    with tempfile.TemporaryDirectory(prefix="activations-build-") as tmp:
        tmp = Path(tmp)
        master = stage(tmp / "stage")
        result = tmp / "assign"
        run_otter_assign(master, result, run_tests)
        zips = sorted((result / "autograder").glob("*-autograder_*.zip"))
        if len(zips) != 1:
            raise BuildError(f"expected one autograder zip from otter assign, found {[z.name for z in zips]}")
        staged = tmp / "out"
        paths = {"student": staged / "student" / NOTEBOOK,
                 "autograder_zip": staged / "autograder" / ZIP_NAME,
                 "solution": staged / "autograder" / SOLUTION_NAME}
        normalise_notebook(result / "student" / NOTEBOOK, paths["student"])
        normalise_notebook(result / "autograder" / NOTEBOOK, paths["solution"])
        with zipfile.ZipFile(zips[0]) as zf:
            config = json.loads(zf.read("otter_config.json"))
        normalise_zip(zips[0], paths["autograder_zip"], autograder_overrides(config))
        out.mkdir(parents=True, exist_ok=True)
        for sub in ("student", "autograder"):
            shutil.rmtree(out / sub, ignore_errors=True)
            shutil.copytree(staged / sub, out / sub)
    return {k: out / v.relative_to(staged) for k, v in paths.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DIST, help=f"output directory [{DIST.relative_to(ROOT)}/]")
    parser.add_argument("--sync", action="store_true",
                        help="rewrite the master's hidden tests from grader.exercises before building")
    parser.add_argument("--no-run-tests", action="store_true",
                        help="skip otter assign's check that the solutions notebook scores full marks")
    args = parser.parse_args(argv)
    try:
        paths = build(args.out.resolve(), run_tests=not args.no_run_tests, sync=args.sync)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(f"{sha256(path)[:16]}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
