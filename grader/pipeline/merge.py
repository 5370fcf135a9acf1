"""Combining the output directories of sharded runs.

A SLURM array or a Kubernetes Indexed Job grades shard I of N into its own
directory (``grade --shard I/N --out out/shard-I``). ``merge`` turns those
directories into one: one ``final_grades.csv`` (a row per submission, in file
name order), one ``results/``, ``feedback/`` and ``code/`` set, one ``similarity.csv`` and one class report.
A submission found in more than one directory is taken once: from the
directory whose result is newest, and reported (harmless when the results have
the same key, a conflict otherwise).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.reports import classreport
from grader.core.errors import GraderError
from grader.rubric.record import SubmissionRecord
from grader.reports.classreport.model import Submission, printable
from grader.reports.files import (
    NotARecord,
    atomic_write,
    feedback_markdown,
    record_from_json,
    record_json,
    write_grades_csv,
)
from grader.reports.similarity.compute import write_similarity
from grader.reports.similarity.store import CODE_DIR
from grader.pipeline.submissions import collect, output_stems


class MergeError(GraderError):
    """The directories cannot be merged; the message says why and what to do."""


class NotAnOutputDirectory(MergeError):
    """``directory`` has no ``results/``: it is not what ``grade --out`` wrote."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"{directory} has no results/ directory: is it an output directory of "
                         f"`activation-grader grade --out`?")


class MissingResults(MergeError):
    """Submissions given to ``merge --submissions`` that no merged directory has a result for."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = list(missing)
        shown = ", ".join(self.missing[:20]) + (" ..." if len(self.missing) > 20 else "")
        super().__init__(f"{len(self.missing)} submission(s) have no result in the merged directories: "
                         f"{shown}. Run their shard again (finished results are reused), then merge again.")


@dataclass
class Source:
    """One result file found in one shard directory."""

    record: SubmissionRecord
    result: Path
    feedback: Path
    graded_at: datetime
    shown: Submission  # the record as the class report reads it (every string printable), read with it

    @property
    def directory(self) -> Path:
        return self.result.parent.parent


@dataclass
class Duplicate:
    """A submission graded in more than one directory, and which result was kept."""

    file: str
    kept: Path
    others: list[Path]
    identical: bool

    def describe(self) -> str:
        others = ", ".join(str(p) for p in self.others)
        if self.identical:
            return f"{self.file}: graded in {self.kept} and {others} with the same key; kept {self.kept}."
        return (f"{self.file}: graded differently in {self.kept} and {others} (different content, grader "
                f"version or seed); kept the newest, from {self.kept}.")


@dataclass
class Merged:
    """What ``merge_shards`` did."""

    out: Path
    csv: Path
    records: list[SubmissionRecord] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def file_order(name: str) -> tuple[str, ...]:
    """The order of ``grade``'s rows for one input directory: by path, part by part."""
    return tuple(name.split("/"))


def merge_shards(dirs: list[Path], out: Path, *, submissions: list[Path] | None = None,
                 report: bool = True) -> Merged:
    """Merge ``dirs`` into ``out``; with ``submissions``, also list those that have no result."""
    dirs = [Path(d) for d in dirs]
    out = Path(out)
    if not dirs:
        raise MergeError("nothing to merge: give the output directories of the shards.")
    warnings: list[str] = []
    found: dict[str, list[Source]] = {}
    for d in dirs:
        for source in _read_directory(d, warnings):
            found.setdefault(source.record.file, []).append(source)

    chosen: dict[str, Source] = {}
    duplicates: list[Duplicate] = []
    for name, sources in found.items():
        distinct = _distinct(sources)
        best = max(distinct, key=lambda s: s.graded_at)
        chosen[name] = best
        if len(distinct) > 1:
            keys = {s.record.provenance.key for s in distinct}
            duplicates.append(Duplicate(name, best.directory, [s.directory for s in distinct if s is not best],
                                        identical=len(keys) == 1 and None not in keys))


    versions = sorted({s.record.provenance.grader_version or "unknown" for s in chosen.values()})
    if len(versions) > 1:
        warnings.append(f"the results come from {len(versions)} grader versions ({', '.join(versions)}): "
                        f"regrade the older shards so that every submission is graded alike.")

    order = sorted(chosen, key=file_order)
    stems = dict(zip(order, output_stems(order)))  # as grade names them: the same order, the same stems
    for name in order:
        source = chosen[name]
        stem = stems[name]
        _copy(source.result, out / "results" / f"{stem}.json")
        code = source.result.parent.parent / CODE_DIR / source.result.name  # the similarity report's (docs/similarity.md)
        if code.is_file():
            _copy(code, out / CODE_DIR / f"{stem}.json")
        if source.feedback.is_file():
            _copy(source.feedback, out / "feedback" / f"{stem}.md")
        else:
            atomic_write(out / "feedback" / f"{stem}.md", feedback_markdown(source.record))
    written = set(stems.values())
    extra = sorted(p.name for p in (out / "results").glob("*.json") if p.stem not in written) \
        if (out / "results").is_dir() else []
    if extra:
        warnings.append(f"{out / 'results'} also holds {len(extra)} result(s) that are not part of this merge "
                        f"(e.g. {extra[0]}); they are not in final_grades.csv but a class report would "
                        f"read them: remove them or merge into an empty directory.")

    records = [chosen[name].record for name in order]
    csv_path = write_grades_csv(out, records)
    merged = Merged(out=out, csv=csv_path, records=records, duplicates=duplicates, warnings=warnings)
    if submissions:
        merged.missing = [item.name for item in collect(list(submissions)) if item.name not in chosen]
    try:  # the class is whole only now (docs/similarity.md)
        write_similarity(out)
    except Exception as exc:  # the grades are merged: a similarity problem must not hide them
        warnings.append(f"similarity.csv could not be written ({type(exc).__name__}: {exc}); "
                        f"`activation-grader similarity {out}` tries again.")
    if report:  # the report reads out/results; what was just copied there it has already
        classreport.write_report(out, known={f"{stems[name]}.json": chosen[name].shown for name in order})
    return merged


def _read_directory(d: Path, warnings: list[str]) -> list[Source]:
    results = d / "results"
    if not results.is_dir():
        raise NotAnOutputDirectory(d)
    if not (d / "final_grades.csv").is_file():
        warnings.append(f"{d} has no final_grades.csv: that run did not finish. Its finished results are "
                        f"merged; run the same grade command again (finished results are reused), then merge.")
    sources = []
    for path in sorted(results.glob("*.json")):
        try:  # read once, as the merge and as the class report will use it
            record, shown = _read_twice(path)
        except NotARecord:
            warnings.append(f"{path} is not a grader result file (damaged, or from another tool); skipped.")
            continue
        sources.append(Source(record, path, d / "feedback" / f"{path.stem}.md", _graded_at(record, path), shown))
    return sources


def _read_twice(path: Path) -> tuple[SubmissionRecord, Submission]:
    """The record in ``path``, and the same record as the class report reads it (every string printable).
    Built once when every string is printable already (nearly always): then the two are the same record."""
    data = record_json(path)
    changed = False

    def convert(text: str) -> str:
        nonlocal changed
        out = printable(text)
        changed = changed or out is not text
        return out

    shown = record_from_json(path, data, convert)
    return (record_from_json(path, data) if changed else shown), Submission(shown)


def _distinct(sources: list[Source]) -> list[Source]:
    """The same file reached twice (a directory given twice, or ``out`` among the inputs) counts once."""
    seen, out = set(), []
    for s in sources:
        real = s.result.resolve()
        if real not in seen:
            seen.add(real)
            out.append(s)
    return out


def _graded_at(record: SubmissionRecord, path: Path) -> datetime:
    """When the result was made: ``provenance.graded_at`` if recorded, else the file's time."""
    stamp = record.provenance.graded_at
    if isinstance(stamp, str):
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)


def _copy(src: Path, dst: Path) -> None:
    """Copy with the file's times, atomically; nothing to do when ``src`` is ``dst``."""
    if dst.exists() and dst.resolve() == src.resolve():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        os.unlink(tmp)
        raise
