#!/usr/bin/env python3
"""Similarity of a synthetic class: keeping each submission's code, then scoring every pair from out/.

    python benchmarks/similarity.py [--n 2000]

The class: N notebooks, each function taken from one of the calibration solutions
(tests/similarity/, the golden one included) chosen at random, its names renamed, a constant of
its own added (so that no two students are alike), one of a hundred shared idioms (so that
fingerprints held by a few dozen students propose pairs, as in a real class), and 1% of the
students copying another (renamed). Each has a results record with a failure or two. Prints
the seconds to keep the code (reading and normalising every submission, ``grader.pipeline.codefiles``)
and to compute similarity.csv from out/ alone (``activation-grader similarity``).
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "similarity")]

from grader.pipeline.codefiles import keep_code  # noqa: E402
from grader.rubric.record import Cells, CriterionRecord, ExerciseRecord, Provenance, SubmissionRecord  # noqa: E402
from grader.reports.files import write_submission  # noqa: E402
from grader.reports.similarity.compute import write_similarity  # noqa: E402
from grader.reports.similarity.starter import NAMES  # noqa: E402
from corpus import ORIGINALS, rename  # noqa: E402


def _functions() -> dict[str, list[str]]:
    """Contract name -> the source of its definition in each calibration solution."""
    out: dict[str, list[str]] = {}
    for path in ORIGINALS.values():
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and any(node.name in ns for ns in NAMES.values()):
                out.setdefault(node.name, []).append(ast.get_source_segment(source, node))
    return out


def _student(k: int, rng: random.Random, functions: dict[str, list[str]]) -> str:
    idiom = rng.randrange(100)
    parts = ["import numpy as np", f"EPS_{idiom} = 1e-{idiom % 9 + 3} * {idiom}"]
    for name, sources in functions.items():
        lines = rng.choice(sources).splitlines()
        body = next(line for line in lines[1:] if line.strip())
        indent = body[:len(body) - len(body.lstrip())]
        extra = [f"{indent}own_{k} = {rng.random():.9f} * {k}"]
        if rng.random() < 0.3:
            extra.append(f"{indent}tol = EPS_{idiom} + own_{k}")
        parts.append("\n".join([lines[0], *extra, *lines[1:]]))
    return "# %%\n" + "\n\n# %%\n".join(parts) + "\n"


def _record(name: str, rng: random.Random) -> SubmissionRecord:
    exercises = {}
    for q in NAMES:
        failing = rng.random() < 0.2
        message = f"{q} returned {rng.randrange(5)} where the reference gives 1\nHint: mistake {rng.randrange(4)}"
        criteria = (CriterionRecord(f"{q} matches", 0.0 if failing else 1.0, 1.0, message if failing else "",
                                    "Mismatch" if failing else None),)
        exercises[q] = ExerciseRecord(q, criteria[0].points, 1.0, "", "", criteria)
    return SubmissionRecord.graded(name, exercises, float(len(NAMES)), cells=Cells(1), notes=(),
                                   provenance=Provenance(seed=rng.randrange(1000)))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the machine may be shared: wall time varies)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    rng = random.Random(0)
    functions = _functions()
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "subs", Path(tmp) / "out"
        subs.mkdir()
        sources = [_student(k, rng, functions) for k in range(args.n)]
        copies = max(1, args.n // 100)
        for k in range(copies):
            sources[args.n - 1 - k] = rename(sources[k])
        items = []
        for k, source in enumerate(sources):
            path = subs / f"student{k:05d}.ipynb"
            notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip("\n"))
                                                       for c in source.split("# %%\n") if c.strip()])
            path.write_text(nbformat.writes(notebook))
            items.append((path.name, path))
            write_submission(out, _record(path.name, rng))
        started, cpu = time.perf_counter(), _cpu()
        keep_code(out, items, jobs=os.cpu_count() or 1)
        kept, kept_cpu = time.perf_counter() - started, _cpu() - cpu
        started, cpu = time.perf_counter(), _cpu()
        found = write_similarity(out)
        scored, scored_cpu = time.perf_counter() - started, _cpu() - cpu
        copied = {(f"student{k:05d}.ipynb", f"student{args.n - 1 - k:05d}.ipynb") for k in range(copies)}
        listed = {(r.a, r.b) for r in found.rows if r.exercise == "all" and r.score >= 0.5}
        print(f"similarity of {args.n} submissions: keeping their code {kept:.1f} s ({kept_cpu:.1f} s of CPU on "
              f"{os.cpu_count()} processes; once, a second run reuses it), similarity.csv from out/ {scored:.1f} s "
              f"({scored_cpu:.1f} s of CPU); {len(found.rows)} rows, "
              f"{len(copied & listed)} of {len(copied)} hidden copies listed, {len(listed - copied)} other pairs")


if __name__ == "__main__":
    main()
