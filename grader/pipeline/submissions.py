"""Which submissions a run grades: every notebook or script under the paths given (zip archives
from an LMS included, see ``grader.pipeline.archives``), each with the name it is known by and the stem of
its output files, and the part of them that one shard grades.

A submission keeps its own name: its path relative to the folder given (``alice/hw.ipynb``), or
inside the archive given (``submissions.zip/alice/hw.ipynb``). That name is what the CSV, the
results and the feedback show. The output files are named by a stem derived from it
(:func:`output_stems`): where two names reduce to the same stem (``a b.ipynb`` and ``a_b.ipynb``),
only the stem of the later one changes.

Shared by a grading run (``grader.pipeline.batch``) and by merging shards (``grader.pipeline.merge``), which
checks that every submission has a result.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.pipeline.archives import ArchiveRefused, Member, is_archive, open_archive
from grader.pipeline.notebook import submission_files
from grader.core.text import file_name, safe_name


@dataclass(frozen=True)
class Submission:
    """One submission: its ``name`` (as students and rosters know it), its output ``stem``, where it is."""

    name: str
    stem: str
    path: Path                   # the file, or the archive that holds it
    member: Member | None = None

    @property
    def refused(self) -> ArchiveRefused | None:
        """Why it is not read at all (an archive or a member refused), or None."""
        return self.member.refused if self.member is not None else None

    def read(self) -> bytes:
        """Its bytes (a member of an archive: read within bounds); ArchiveRefused if refused."""
        return self.member.read() if self.member is not None else self.path.read_bytes()


def collect(paths: list[Path]) -> list[Submission]:
    """Every submission under ``paths``, in order: each path's files sorted, an archive's members after its name.

    The name is the file's path below the directory given (or its own name for a file given),
    as one printable line (``grader.core.text.file_name``: a name is text the student chose). Where two
    inputs hold the same name (``grade sec1/ sec2/``, both with ``hw.ipynb``), those names start one
    folder up (``sec1/hw.ipynb``, ``sec2/hw.ipynb``), so that every row says which file it is.
    """
    found: list[tuple[str, Path, Member | None]] = []
    outer: list[str] = []  # the same name one folder up: for names that two inputs share
    for path in paths:
        root = path if path.is_dir() else path.parent
        for f in _files(path):
            name = f.relative_to(root).as_posix() if path.is_dir() else f.name
            up = f"{root.resolve().name}/{name}"
            if not is_archive(f):
                found.append((name, f, None))
                outer.append(up)
                continue
            try:
                members = open_archive(f)
            except ArchiveRefused as exc:
                found.append((name, f, Member(f, "", None, exc)))
                outer.append(up)
                continue
            found += [(f"{name}/{m.name}", f, m) for m in members]
            outer += [f"{up}/{m.name}" for m in members]
    shared = {name for name, n in Counter(name for name, _, _ in found).items() if n > 1}
    found = [(file_name(outer[i] if name in shared else name), f, m) for i, (name, f, m) in enumerate(found)]
    stems = output_stems(name for name, _, _ in found)
    return [Submission(name, stem, f, member) for (name, f, member), stem in zip(found, stems)]


def _files(path: Path) -> list[Path]:
    """The notebooks, scripts and zip archives of ``path`` (itself if it is a file), sorted."""
    if not path.is_dir():
        return [path]
    archives = [f for f in path.rglob("*") if f.is_file() and is_archive(f) and not f.name.startswith(".")
                and ".ipynb_checkpoints" not in f.parts]
    return sorted([*submission_files([path]), *archives])


def output_stems(names: Iterable[str]) -> list[str]:
    """A distinct file stem for each name, in order: ``grader.core.text.safe_name`` of the name, and for a
    name whose stem is taken already, that stem with ``-2``, ``-3`` ... (the first keeps it)."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = stem = safe_name(name)
        n = 2
        while stem in seen:
            stem = f"{base[:100 - len(str(n)) - 1]}-{n}"
            n += 1
        seen.add(stem)
        out.append(stem)
    return out


def shard_of(items: list, shard: tuple[int, int] | None) -> list:
    """Items i with i % N == I: a deterministic part for SLURM arrays and Indexed Jobs."""
    if shard is None:
        return items
    index, count = shard
    return [item for i, item in enumerate(items) if i % count == index]
