"""Each submission's own code, kept in the output directory for the similarity report.

The results records keep no code, so a run keeps it beside them: ``out/code/<name>.json`` holds,
per exercise, the code a submission wrote and its canonical statements
(:mod:`grader.similarity`). A file is written again only when its submission's content or the
canonical form changed, so a second run reads each submission once to hash it and parses none.
Then ``similarity.csv`` is computed from the output directory alone, as
``activation-grader similarity OUT`` does.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from grader.notebook import SubmissionError, load
from grader.similarity.compute import Similarity, code_file, write_similarity
from grader.similarity.normalise import VERSION
from grader.similarity.store import CodeFile, code_path, read_code, write_code
from grader.text import file_name


def keep_code(out_dir: Path, items: Sequence[tuple[str, Path]]) -> int:
    """Write ``out_dir/code/<name>.json`` for every (name, path) whose file is missing or stale;
    return how many were written. A submission that cannot be read gets a file that says why."""
    written = 0
    for name, path in items:
        name = file_name(name)  # as the record names it
        try:
            content = path.read_bytes()
        except OSError:
            continue
        digest = hashlib.sha256(content).hexdigest()
        target = code_path(out_dir, name)
        old = read_code(target) if target.exists() else None
        if old is not None and old.content_sha256 == digest and old.version == VERSION and old.file == name:
            continue
        try:
            code = code_file(name, digest, load(name, content).cells)
        except SubmissionError as exc:
            code = CodeFile(name, digest, {}, note=exc.message)
        write_code(out_dir, code)
        written += 1
    return written


def update_similarity(out_dir: Path, items: Sequence[tuple[str, Path]]) -> Similarity:
    """Keep every submission's code, then write ``similarity.csv`` from the output directory alone."""
    keep_code(out_dir, items)
    return write_similarity(out_dir)
