"""Which submissions a run grades: every notebook or script under the paths given, each with the
name it is known by (its results file, its CSV row), and the part of them that one shard grades.

Shared by a grading run (``grader.batch``) and by merging shards (``grader.merge``), which
checks that every submission has a result.
"""
from __future__ import annotations

from pathlib import Path

from grader.notebook import submission_files
from grader.text import file_name, safe_name


def collect(paths: list[Path]) -> list[tuple[str, Path]]:
    """(unique display name, path) for every submission under ``paths``, sorted.

    The display name is the file's path below the directory given, as one printable line
    (``grader.text.file_name``: a name is text the student chose). Two names that would share
    a results file get ``~2``, ``~3`` ... before their suffix, which still says how to read them.
    """
    out, seen = [], set()
    for path in paths:
        root = path if path.is_dir() else path.parent
        for f in submission_files([path]):
            name = file_name(f.relative_to(root).as_posix() if path.is_dir() else f.name)
            stem, dot, suffix = name.rpartition(".")
            n = 2
            while safe_name(name) in seen:
                name = f"{stem}~{n}.{suffix}" if dot else f"{suffix}~{n}"
                n += 1
            seen.add(safe_name(name))
            out.append((name, f))
    return out


def shard_of(items: list, shard: tuple[int, int] | None) -> list:
    """Items i with i % N == I: a deterministic part for SLURM arrays and Indexed Jobs."""
    if shard is None:
        return items
    index, count = shard
    return [item for i, item in enumerate(items) if i % count == index]
