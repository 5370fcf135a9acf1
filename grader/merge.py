"""Combining the output directories of sharded runs, and explaining what a regrade changed.

A SLURM array or a Kubernetes Indexed Job grades shard I of N into its own
directory (``grade --shard I/N --out out/shard-I``). ``merge`` turns those
directories into one: one ``final_grades.csv`` (a row per submission, in file
name order), one ``results/`` and ``feedback/`` set, and one class report.
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

import click

from grader.report import (
    atomic_write,
    feedback_markdown,
    read_record,
    safe_name,
    write_grades_csv,
)


class MergeError(click.ClickException):
    """The directories cannot be merged; the message says why and what to do."""


@dataclass
class Source:
    """One result file found in one shard directory."""

    record: dict
    result: Path
    feedback: Path
    graded_at: datetime

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
    records: list[dict] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def file_order(name: str) -> tuple[str, ...]:
    """The order of ``grade``'s rows for one input directory: by path, part by part."""
    return tuple(name.split("/"))


def merge(dirs: list[Path], out: Path) -> Path:
    """Merge the shard output directories ``dirs`` into ``out``; returns ``out/final_grades.csv``."""
    return merge_shards(dirs, out).csv


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
            found.setdefault(source.record["file"], []).append(source)

    chosen: dict[str, Source] = {}
    duplicates: list[Duplicate] = []
    for name, sources in found.items():
        distinct = _distinct(sources)
        best = max(distinct, key=lambda s: s.graded_at)
        chosen[name] = best
        if len(distinct) > 1:
            keys = {s.record.get("provenance", {}).get("key") for s in distinct}
            duplicates.append(Duplicate(name, best.directory, [s.directory for s in distinct if s is not best],
                                        identical=len(keys) == 1 and None not in keys))

    stems: dict[str, str] = {}
    for name in chosen:
        other = stems.setdefault(safe_name(name), name)
        if other != name:
            raise MergeError(f"{other!r} and {name!r} would share the result file "
                             f"results/{safe_name(name)}.json: were the shards run on different inputs?")

    versions = sorted({s.record.get("provenance", {}).get("grader_version") or "unknown" for s in chosen.values()})
    if len(versions) > 1:
        warnings.append(f"the results come from {len(versions)} grader versions ({', '.join(versions)}): "
                        f"regrade the older shards so that every submission is graded alike.")

    order = sorted(chosen, key=file_order)
    for name in order:
        source = chosen[name]
        stem = safe_name(name)
        _copy(source.result, out / "results" / f"{stem}.json")
        if source.feedback.is_file():
            _copy(source.feedback, out / "feedback" / f"{stem}.md")
        else:
            atomic_write(out / "feedback" / f"{stem}.md", feedback_markdown(source.record))
    extra = sorted(p.name for p in (out / "results").glob("*.json") if p.stem not in stems) \
        if (out / "results").is_dir() else []
    if extra:
        warnings.append(f"{out / 'results'} also holds {len(extra)} result(s) that are not part of this merge "
                        f"(e.g. {extra[0]}); they are not in final_grades.csv but a class report would "
                        f"read them: remove them or merge into an empty directory.")

    records = [chosen[name].record for name in order]
    csv_path = write_grades_csv(out, records)
    merged = Merged(out=out, csv=csv_path, records=records, duplicates=duplicates, warnings=warnings)
    if submissions:
        from grader.batch import collect

        merged.missing = [name for name, _ in collect(list(submissions)) if name not in chosen]
    if report:
        from grader.classreport import write_report

        write_report(out)
    return merged


def _read_directory(d: Path, warnings: list[str]) -> list[Source]:
    results = d / "results"
    if not results.is_dir():
        raise MergeError(f"{d} has no results/ directory: is it an output directory of "
                         f"`activation-grader grade --out`?")
    if not (d / "final_grades.csv").is_file():
        warnings.append(f"{d} has no final_grades.csv: that run did not finish. Its finished results are "
                        f"merged; run the same grade command again (finished results are reused), then merge.")
    sources = []
    for path in sorted(results.glob("*.json")):
        record = read_record(path)
        if record is None or not isinstance(record.get("file"), str):
            warnings.append(f"{path} is not a grader result file (damaged, or from another tool); skipped.")
            continue
        sources.append(Source(record, path, d / "feedback" / f"{path.stem}.md", _graded_at(record, path)))
    return sources


def _distinct(sources: list[Source]) -> list[Source]:
    """The same file reached twice (a directory given twice, or ``out`` among the inputs) counts once."""
    seen, out = set(), []
    for s in sources:
        real = s.result.resolve()
        if real not in seen:
            seen.add(real)
            out.append(s)
    return out


def _graded_at(record: dict, path: Path) -> datetime:
    """When the result was made: ``provenance.graded_at`` if recorded, else the file's time."""
    stamp = record.get("provenance", {}).get("graded_at")
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


# -- what a regrade changed ------------------------------------------------------------------------
_CAUSES = (("content_sha256", "the submission's content changed"),
           ("grader_version", "the grader version changed"),
           ("seed", "the random inputs (seed) changed"),
           ("sandbox", "the sandbox changed"))


def change_causes(old_record: dict, new_record: dict) -> list[str]:
    """Which of content, grader version, seed and sandbox differ between two records."""
    old, new = old_record.get("provenance", {}), new_record.get("provenance", {})
    causes = []
    for key, text in _CAUSES:
        if key in old and key in new and old[key] != new[key]:
            a, b = old[key], new[key]
            if key == "content_sha256":
                a, b = str(a)[:12], str(b)[:12]
            causes.append(f"{text} ({a} -> {b})")
    return causes


def changed_scores(old_record: dict, new_record: dict) -> list[str]:
    """One line per exercise whose score changed (and for the status), each saying why.

    An empty list means the regrade gave the same points. When neither content, grader version,
    seed nor sandbox changed, the line says so: the result depended on something else (time
    limits, a timeout under load).
    """
    causes = change_causes(old_record, new_record)
    why = "; ".join(causes) if causes else ("same content, grader version and seed: the result depended on "
                                             "something else (time limits, a timeout under load)")
    lines = []
    old_ex, new_ex = old_record.get("exercises", {}), new_record.get("exercises", {})
    for q in sorted(set(old_ex) | set(new_ex), key=lambda q: (len(q), q)):
        a, b = old_ex.get(q, {}), new_ex.get(q, {})
        before, after = a.get("score"), b.get("score")
        if before == after:
            continue
        title = b.get("title") or a.get("title") or ""
        maximum = b.get("max_score", a.get("max_score"))
        lines.append(f"{q}{': ' + title if title else ''}: {_points(before)} -> {_points(after)}"
                     f"{' / ' + _points(maximum) if maximum is not None else ''} ({why})")
    if old_record.get("status") != new_record.get("status"):
        lines.append(f"status: {old_record.get('status')} -> {new_record.get('status')} ({why})")
    if lines and old_record.get("score") != new_record.get("score"):
        lines.insert(0, f"total: {old_record.get('score', 0):g} -> {new_record.get('score', 0):g}")
    return lines


def _points(value) -> str:
    return "-" if value is None else f"{value:g}"


# -- the command -----------------------------------------------------------------------------------
@click.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the merged final_grades.csv, results/, feedback/ and class report.")
@click.option("--submissions", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="The graded inputs (repeatable): fail if any of them has no result in DIRS.")
@click.option("--no-report", is_flag=True, help="Do not write the class report.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")
def merge_command(dirs, out_dir, submissions, no_report, quiet) -> None:
    """Merge the output directories of sharded runs (grade --shard I/N) into OUT."""
    merged = merge_shards(list(dirs), out_dir, submissions=list(submissions) or None, report=not no_report)
    for warning in merged.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for dup in merged.duplicates:
        click.echo(f"{'Duplicate' if dup.identical else 'Conflict'}: {dup.describe()}", err=True)
    if not quiet:
        click.echo(f"Merged {len(merged.records)} submission(s) from {len(dirs)} directories into {merged.csv}"
                   f" ({len(merged.duplicates)} duplicate(s)).")
    if merged.missing:
        shown = ", ".join(merged.missing[:20]) + (" ..." if len(merged.missing) > 20 else "")
        raise MergeError(f"{len(merged.missing)} submission(s) have no result in the merged directories: "
                         f"{shown}. Run their shard again (finished results are reused), then merge again.")
