"""Each submission's own code, kept in the output directory for the similarity report.

The results records keep no code, so a run keeps it beside them: ``out/code/<name>.json`` holds,
per exercise, the code a submission wrote and its canonical statements
(:mod:`grader.reports.similarity`). A file is written again only when its submission's content or the
canonical form changed, so a second run reads each submission once to hash it and parses none;
the submissions to parse are shared among ``jobs`` processes. Then ``similarity.csv`` is
computed from the output directory alone, as ``activation-grader similarity OUT`` does.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
from collections.abc import Sequence
from pathlib import Path

from grader.pipeline.archives import ArchiveRefused
from grader.pipeline.notebook import SubmissionError, load
from grader.reports.similarity.compute import Similarity, code_file, write_similarity
from grader.reports.similarity.normalise import VERSION
from grader.reports.similarity.store import CodeFile, code_path, read_code, write_code
from grader.pipeline.submissions import Submission
from grader.core.text import file_name

#: Below this many submissions to parse, one process does it (starting others costs more).
PARALLEL_FROM = 64


def _read(source: Submission | Path) -> bytes:
    """A submission's bytes: a file's, or an archive member's (``grader.pipeline.submissions.Submission``)."""
    return source.read_bytes() if isinstance(source, Path) else source.read()


def _code(name: str, source: Submission | Path, digest: str) -> dict:
    """The code file of one submission, as plain data (what a pool's process sends back)."""
    try:
        content = _read(source)
        return code_file(name, digest, load(name, content).cells).to_dict()
    except SubmissionError as exc:
        return CodeFile(name, digest, {}, note=exc.message).to_dict()
    except ArchiveRefused as exc:
        return CodeFile(name, digest, {}, note=exc.message).to_dict()
    except OSError as exc:
        return CodeFile(name, digest, {}, note=f"the file could not be read again ({exc.strerror})").to_dict()
    except (RecursionError, MemoryError, ValueError) as exc:  # a submission built to break the parser
        return CodeFile(name, digest, {}, note=f"its code could not be compared ({type(exc).__name__})").to_dict()


def keep_code(out_dir: Path, items: Sequence[Submission | tuple[str, Path]], jobs: int = 1) -> int:
    """Write ``out_dir/code/<stem>.json`` (the stem of its results file) for every submission
    (``grader.pipeline.submissions.Submission``, or a (name, path)) whose file is missing or stale; return how
    many were written. A submission that cannot be read gets a file that says why."""
    todo: list[tuple[str, Submission | Path, str]] = []
    stems: list[str | None] = []
    for item in items:
        name, source, stem = (item.name, item, item.stem) if isinstance(item, Submission) else (*item, None)
        name = file_name(name)  # as the record names it
        try:
            digest = hashlib.sha256(_read(source)).hexdigest()
        except (OSError, ArchiveRefused):
            digest = ""
        target = code_path(out_dir, name, stem)
        old = read_code(target) if target.exists() else None
        if old is None or old.content_sha256 != digest or old.version != VERSION or old.file != name or not digest:
            todo.append((name, source, digest))
            stems.append(stem)
    if jobs > 1 and len(todo) >= PARALLEL_FROM:
        with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
            done = pool.map(_code, *zip(*todo), chunksize=16)
            for data, stem in zip(done, stems):
                write_code(out_dir, CodeFile.from_dict(data), stem)
    else:
        for task, stem in zip(todo, stems):
            write_code(out_dir, CodeFile.from_dict(_code(*task)), stem)
    return len(todo)


def update_similarity(out_dir: Path, items: Sequence[Submission | tuple[str, Path]], jobs: int = 1) -> Similarity:
    """Keep every submission's code, then write ``similarity.csv`` from the output directory alone."""
    keep_code(out_dir, items, jobs)
    return write_similarity(out_dir)
