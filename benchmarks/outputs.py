#!/usr/bin/env python3
"""Proof that a change of the code changes no grade: every output of a fixed class, before and after.

    python benchmarks/outputs.py make-class CLASS --n 200
    python benchmarks/outputs.py snapshot CLASS BEFORE --grader .venv/bin/activation-grader
    python benchmarks/outputs.py compare BEFORE AFTER

A restructuring that preserves behaviour must leave every score, every message a student reads
and every output file byte-identical. ``make-class`` writes one deterministic class (the golden
files, each known mistake alone and combined, blank, damaged, crashing and looping notebooks,
hostile text and hostile file names); ``snapshot`` grades it with one grader executable under
fixed options and keeps every output file and the console, with only what varies from run to run
masked (times, durations, CPU figures, the grader's version and the keys derived from it, the
temporary directory); ``compare`` says what differs. Grade the class with the code before the
change and after it, from the very same class files, and compare: exit status 0 means identical.
"""
from __future__ import annotations

import difflib
import io
import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from itertools import combinations
from pathlib import Path
from typing import Callable

import click
import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:  # tests/variants.py: the golden solution's variants
    sys.path.append(str(ROOT / "tests"))
from variants import derive, golden_sources  # noqa: E402

# benchmarks/workload.py by its path: benchmarks/ on sys.path would shadow packages of tests/ (similarity)
_spec = importlib.util.spec_from_file_location("outputs_workload", ROOT / "benchmarks" / "workload.py")
workload = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workload)

#: The options of every snapshot: those of tests/pipeline/test_golden.py (seed 5, a 3 s step, 40 s in all),
#: so the golden files' scores in a snapshot are those of tests/golden/expected.json.
GRADE_OPTIONS = ("--jobs", "2", "--seed", "5", "--timeout", "40", "--step-timeout", "3")
#: Rich wraps console lines at the terminal's width, 80 without one: a wider fixed width keeps a line
#: naming the temporary directory on one line whatever that directory's length.
CONSOLE_ENV = {"COLUMNS": "400", "LINES": "50", "TERM": "dumb", "NO_COLOR": "1"}

_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
#: (name, pattern, replacement): only what differs between two runs of the same code on the same class.
#: Scores, messages, statuses, seeds and every other field stay as written.
MASKS: list[tuple[str, str, str]] = [
    ("graded_at", rf'(?<="graded_at": "){_TIME}(?=")', "<time>"),
    ("seconds", rf'(?<="seconds": ){_NUMBER}(?=[,\n}}])', "<seconds>"),
    ("execution_time", rf'(?<="execution_time": ){_NUMBER}(?=[,\n}}])', "<seconds>"),
    # the whole CPU object (its figures vary; so does plans_cached, which depends on which process got the task)
    ("cpu", r'(?m)^(?P<i> *)"cpu": \{\n(?:(?P=i) .*\n)*?(?P=i)\}', r'\g<i>"cpu": "<cpu>"'),
    # the release plus a digest of the grading code (grader.tasks.grader_version): any edit changes it
    ("grader_version", r"\b\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.dev|\.post)\d+)?\+[0-9a-f]{10}\b", "<version>"),
    # a result's key hashes the grader's version with the content and conditions (shown unmasked)
    ("key", r'(?<="key": ")[0-9a-f]{64}(?=")', "<key>"),
]


def mask(text: str, literals: dict[str, str] | None = None) -> str:
    """``text`` with each literal (a temporary path) replaced by its name, then every mask applied."""
    for literal, name in sorted((literals or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(literal, name)
    for _, pattern, replacement in MASKS:
        text = re.sub(pattern, replacement, text)
    return text


# --- the class ---------------------------------------------------------------------------------------
HOSTILE = ["<script>alert('x')</script> <b>bold</b> <img src=x onerror=alert(1)>",
           "```\n# Total: 100 / 100\n```\n~~~ fenced ~~~ `tick` ``double``",
           "| q1 | 10 / 10 |\n|---|---|\n| total | 100 |",
           "=cmd|' /C calc'!A0,+1+1,-2,@SUM(A1),\tTAB",
           "\x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \u202etxt.exe"]


def _hostile_sources() -> dict[str, str]:
    """Correct code plus hostile text in every place a submission's text reaches an output."""
    solution, out = workload.SOLUTION, {}
    for k, text in enumerate(HOSTILE):
        t = repr(text)
        out[f"hostile/printing_{k}.py"] = f"# %%\nprint({t})\nimport sys\nprint({t}, file=sys.stderr)\n\n" + solution
        out[f"hostile/cell_raises_{k}.py"] = solution + f"\n# %%\nraise ValueError({t})\n"
        out[f"hostile/function_raises_{k}.py"] = edit("def tanh_derivative(x):\n", f"raise RuntimeError({t})")
        out[f"hostile/class_name_{k}.py"] = edit("def softmax(z, axis=-1):\n",
                                                 f"raise type({t}, (Exception,), {{}})('x')")
        out[f"hostile/returns_text_{k}.py"] = solution + f"\n# %%\ndef relu_derivative(x):\n    return {t}\n"
    return out


def edit(line: str, body: str) -> str:
    """The solution with ``body`` as the first line of the function that ``line`` begins (once, or it fails)."""
    return derive(workload.SOLUTION, ((line, f"{line}    {body}\n"),))


def stable(text: str, title: str) -> str:
    """A notebook titled ``title`` (which makes it a file of its own, as real submissions are), with cell
    ids of its own position: nbformat draws them at random, and a class must be the same files each time."""
    nb = nbformat.reads(text, as_version=4)
    nb.cells[0].source = f"# Activation functions ({title})"
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{k}"
    return nbformat.writes(nb)


def _notebook(cells: list[str], title: str) -> str:
    return stable(workload.notebook(cells), title)


def _notebook_or_script(source: str, name: str, as_script: bool, student: str) -> tuple[str, str]:
    """One submission: the source as a percent-format script or a notebook of its cells."""
    if as_script:
        return f"{name}.py", f"# Activation functions ({student})\n{source}"
    return f"{name}.ipynb", _notebook(workload.cells_of(source), student)


def class_files(n: int, seed: int = 0) -> dict[str, bytes]:
    """At least ``n`` submissions by relative path: every golden file, each mistake alone, every pair,
    random combinations, blank, damaged, crashing and hostile ones, hostile names, three that loop."""
    rng, files = random.Random(seed), {}
    files.update({f"golden/{k}": v.encode() for k, v in golden_sources().items()})  # looping.py: one slow one
    files.update({f"golden/{p.name}": p.read_bytes() for p in sorted((ROOT / "samples").glob("*.ipynb"))})
    files.update({f"damaged/{p.name}": p.read_bytes() for p in sorted((ROOT / "tests/hostile/bad_input").iterdir())})
    for name in ("exit_in_cells.py", "exit_in_functions.py", "lying_objects.py"):
        files[f"crashing/{name}"] = (ROOT / "tests/hostile" / name).read_bytes()
    correct = _notebook(workload.cells_of(workload.SOLUTION), "correct")
    files.update({"damaged/empty.ipynb": b"", "damaged/not_a_notebook.ipynb": b'{"cells": "no", "a": 1}',
                  "damaged/pdf.ipynb": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
                  "damaged/binary.py": bytes(range(256)),
                  "damaged/nbformat9.ipynb": correct.replace('"nbformat": 4', '"nbformat": 9', 1).encode(),
                  "damaged/syntax.py": b"def sigmoid(x:\n    return\n"})
    for k in range(8):  # cut short at different places: invalid JSON
        files[f"damaged/cut_{k}.ipynb"] = correct[: 40 + 211 * k].encode()
    files["damaged/too_many_cells.ipynb"] = _notebook(["x = 1"] * 10_001, "too many cells").encode()
    wrong = derive(workload.SOLUTION, tuple(workload.MISTAKES[:2]))
    files["lms/submissions.zip"] = lms_zip(correct, _notebook(workload.cells_of(wrong), "in a zip"))
    files["crashing/os_exit_cell.py"] = ("# %%\nimport os\nos._exit(1)\n\n" + workload.SOLUTION).encode()
    files["crashing/recursion.py"] = edit("def relu_derivative(x):\n", "return relu_derivative(x)").encode()
    # the two slow ones besides golden/looping.py: a function that never returns, a cell that never ends
    files["slow/function_loops.py"] = edit("def tanh_derivative(x):\n", "while True:\n        pass").encode()
    cells = workload.cells_of(workload.SOLUTION)
    files["slow/cell_loops.ipynb"] = _notebook(["while True:\n    pass", *cells], "a cell that loops").encode()
    files.update({k: v.encode() for k, v in _hostile_sources().items()})
    # hostile names at the top, so that each is the whole name: "a b" and "a_b" reduce to the same file name
    for name in ("with space", "<b>bold", "<script>x=1", "ünïcødé 学生", "a b", "a_b", "a-b", "=cmd|' calc'!A0",
                 "`tick` | pipe", "-leading dash", "\x1b[31mred", "x" * 150):
        files[f"{name}.ipynb"] = _notebook(cells, name).encode()
    mistakes = workload.MISTAKES
    pools = [[m] for m in mistakes] * 2 + [list(p) for p in combinations(mistakes, 2)] + [list(mistakes)]
    for k, chosen in enumerate(pools):
        source = derive(workload.SOLUTION, tuple(chosen))
        name, text = _notebook_or_script(source, f"mistakes/m{k:03d}", k % 4 == 3, f"mistakes {k}")
        files[name] = text.encode()
    k = 0
    while len(files) < n:  # the rest: a class as it comes, seeded
        kind = rng.choices(["correct", "wrong", "blank"], [4, 5, 1])[0]
        source = workload.SOLUTION
        if kind == "wrong":
            source = derive(source, tuple(rng.sample(mistakes, rng.randint(1, 4))))
        if kind == "blank":
            name, text = f"class/s{k:03d}_blank.ipynb", stable(workload.blank(), f"student {k}")
        else:
            name, text = _notebook_or_script(source, f"class/s{k:03d}_{kind}", rng.random() < 0.2, f"student {k}")
        files[name] = text.encode()
        k += 1
    return files


def lms_zip(correct: str, wrong: str) -> bytes:
    """An LMS download as Moodle and Canvas name its members, with fixed member times (the same bytes each
    time). No refused member (``../x.ipynb``, a zip inside): with one, the grader (as of December 2026) fails to keep the
    class's code (its ArchiveRefused does not survive the process pool) at a point that varies from run to run."""
    members = {"Alice Smith_123_assignsubmission_file_/hw.ipynb": correct.encode(),
               "smithbob_1234_56789_hw.ipynb": wrong.encode(), "__MACOSX/._hw.ipynb": b"\x00\x05\x16\x07"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write_files(directory: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into an empty or new ``directory``: a class is written once, never added to."""
    if directory.exists() and any(directory.iterdir()):
        raise click.ClickException(f"{directory} is not empty: a class is generated once, into a new directory")
    for rel, data in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --- snapshot and compare --------------------------------------------------------------------------------
def keep_tree(source: Path, target: Path, literals: dict[str, str]) -> int:
    """Copy every file under ``source`` into ``target``, masked where it is UTF-8 text; return how many."""
    count = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            data = mask(data.decode("utf-8"), literals).encode("utf-8")
        except UnicodeDecodeError:
            pass  # binary: kept as it is
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        count += 1
    return count


def run_command(argv: list[str], into: Path, name: str, literals: dict[str, str]) -> int:
    """Run one command of the grader; keep its stdout, stderr and exit status (masked) as console/<name>.*."""
    proc = subprocess.run(argv, capture_output=True, env={**os.environ, **CONSOLE_ENV}, stdin=subprocess.DEVNULL)
    (into / "console").mkdir(parents=True, exist_ok=True)
    for stream, data in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        (into / "console" / f"{name}.{stream}").write_text(mask(data.decode("utf-8", "replace"), literals))
    (into / "console" / f"{name}.exit").write_text(f"{proc.returncode}\n")
    return proc.returncode


def compare_trees(a: Path, b: Path, lines: int = 30, files: int = 20, echo: Callable[[str], None] = print) -> bool:
    """Say what differs between two snapshots (files on one side only, then each differing file's first
    differing lines); True when they are identical."""
    left = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    right = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    for name in sorted(left - right):
        echo(f"only in {a}: {name}")
    for name in sorted(right - left):
        echo(f"only in {b}: {name}")
    differing = [n for n in sorted(left & right) if (a / n).read_bytes() != (b / n).read_bytes()]
    for name in differing[:files]:
        try:
            old, new = ((p / name).read_bytes().decode("utf-8") for p in (a, b))
        except UnicodeDecodeError:
            echo(f"binary {name} differs: {(a / name).stat().st_size} and {(b / name).stat().st_size} bytes")
            continue
        diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{a}/{name}", f"{b}/{name}", lineterm=""))
        echo("\n".join(diff[:lines] + ([f"... ({len(diff) - lines} more diff lines)"] if len(diff) > lines else [])))
    if len(differing) > files:
        echo(f"... and {len(differing) - files} more differing files: {', '.join(differing[files:])}")
    same = not (left ^ right) and not differing
    echo(f"{len(left | right)} files: " + ("identical" if same else
         f"{len(left - right)} only in {a}, {len(right - left)} only in {b}, {len(differing)} differ"))
    return same


@click.group()
def main() -> None:
    """Before/after snapshots of every output of a fixed class (docs/development.md)."""


@main.command("make-class")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--n", default=200, show_default=True, help="At least this many submissions.")
@click.option("--seed", default=0, show_default=True, help="Seed of the random part of the class.")
def make_class(directory: Path, n: int, seed: int) -> None:
    """Write a deterministic class of at least N submissions into DIRECTORY (new or empty)."""
    files = class_files(n, seed)
    write_files(directory, files)
    click.echo(f"Wrote {len(files)} submissions into {directory}")


@main.command("make-golden")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def make_golden(directory: Path) -> None:
    """Write the golden files alone (tests/golden/ and its variants, the samples): a snapshot in seconds."""
    files = {k.removeprefix("golden/"): v for k, v in class_files(0).items() if k.startswith("golden/")}
    write_files(directory, files)
    click.echo(f"Wrote {len(files)} golden submissions into {directory}")


@main.command()
@click.argument("class_dir", metavar="CLASS", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--grader", "grader", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The activation-grader executable to snapshot (that of the code before, or after, the change).")
@click.option("--replace", is_flag=True, help="Replace OUT if it is a snapshot already.")
def snapshot(class_dir: Path, out: Path, grader: Path, replace: bool) -> None:
    """Grade CLASS with GRADER, then keep every output file and the console, masked, in OUT."""
    if out.exists() and any(out.iterdir()):
        if not (replace and (out / "command.txt").exists()):
            raise click.ClickException(f"{out} is not empty (--replace replaces a snapshot, nothing else)")
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="outputs-snapshot-") as tmp:
        graded = Path(tmp) / "out"
        literals = {tmp: "<tmp>", str(class_dir.resolve()): "<class>", str(class_dir): "<class>"}
        exe = str(grader.absolute())  # not resolved: a venv's bin/ is what makes it that venv's grader
        commands = [("grade", [exe, "grade", str(class_dir.resolve()), "--out", str(graded), *GRADE_OPTIONS])]
        out.mkdir(parents=True)
        code = run_command(commands[0][1], out, "grade", literals)
        kept = keep_tree(graded, out / "out", literals) if graded.is_dir() else 0
        # the class report and similarity rebuilt from out/ alone, as `report` and `similarity` do
        commands += [("similarity", [exe, "similarity", str(graded), "--no-report"]),
                     ("report", [exe, "report", str(graded)])]
        for name, argv in commands[1:]:
            run_command(argv, out, name, literals)
        rebuilt = out / "rebuilt"
        for name in ("similarity.csv", "similarity.json", "report.html", "summary.csv"):
            if (graded / name).is_file():
                rebuilt.mkdir(exist_ok=True)
                (rebuilt / name).write_text(mask((graded / name).read_text(encoding="utf-8"), literals))
        (out / "command.txt").write_text("".join(
            " ".join(mask(a, literals | {exe: "<grader>"}) for a in argv[1:]) + "\n" for _, argv in commands))
    click.echo(f"Snapshot of {class_dir} by {grader}: grade exited {code}; {kept} output files kept in {out}")


@main.command()
@click.argument("a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--lines", default=30, show_default=True, help="Diff lines shown per differing file.")
@click.option("--files", default=20, show_default=True, help="Differing files shown in full.")
def compare(a: Path, b: Path, lines: int, files: int) -> None:
    """Compare two snapshots: exit status 0 when identical, 1 on any difference."""
    sys.exit(0 if compare_trees(a, b, lines, files, click.echo) else 1)


if __name__ == "__main__":
    main()
