"""Grading many submissions: one task per submission through an executor.

The runner never schedules anything itself. It hands each task (plain data in,
plain data out, see ``grader.grading.grade``) to a ``concurrent.futures``-style
executor: a local process pool by default, or a Dask cluster
(``grader.executors``). Each result is written atomically as soon as it
arrives, so an interrupted run loses nothing; a result already on disk with the
same key (content, grader version, seed) is not recomputed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.executors import LocalExecutor, as_completed
from grader.grading import error_record, grade
from grader.record import ERROR, SubmissionRecord
from grader.regrade import changed_scores
from grader.report import read_record, safe_name, write_grades_csv, write_submission
from grader.submissions import collect, shard_of
from grader.tasks import Options, grading_key, task_key
from grader.text import one_line


@dataclass
class Batch:
    """What a batch run did; ``records`` in input order, one per submission."""

    records: list[SubmissionRecord] = field(default_factory=list)
    reused: int = 0
    graded: int = 0
    changes: dict[str, list[str]] = field(default_factory=dict)
    write_cpu: float = 0.0  # seconds of this process's CPU spent writing results and feedback


def submit(executor, task: dict):
    """Hand one grading task to ``executor``. An executor that names its tasks (``submit_keyed``: Dask) gets
    the task's key, so that the same task is computed once, and the resources it needs (a host with Docker)."""
    keyed = getattr(executor, "submit_keyed", None)
    if keyed is None:
        return executor.submit(grade, task)
    resources = {"sandbox": 1} if task["options"].get("sandbox") == "docker" else None
    return keyed(grading_key(task), grade, task, resources=resources)


def run(paths: list[Path], out_dir: Path, options: Options, *, jobs: int = 1, executor=None,
        regrade: bool = False, shard: tuple[int, int] | None = None,
        on_result: Callable[[SubmissionRecord], None] | None = None, progress: bool = True) -> Batch:
    """Grade every submission under ``paths`` into ``out_dir``; see the module docstring."""
    out_dir.mkdir(parents=True, exist_ok=True)
    items = shard_of(collect(paths), shard)
    batch = Batch()
    records: dict[str, SubmissionRecord] = {}
    todo = []
    previous: dict[str, SubmissionRecord] = {}
    for name, path in items:
        content = path.read_bytes()
        existing = read_record(out_dir / "results" / f"{safe_name(name)}.json")
        # a grader failure ("error") is never reused: the next run tries again
        if (not regrade and existing and existing.status != ERROR
                and existing.provenance.key == task_key(content, options)):
            records[name] = existing
            batch.reused += 1
        else:
            if existing:
                previous[name] = existing
            todo.append((name, content))
    own_executor = executor is None
    if own_executor:
        executor = LocalExecutor(max(1, jobs))
    try:
        futures = {}
        for name, content in todo:
            task = {"name": name, "content": content, "options": options.to_dict()}
            futures[submit(executor, task)] = (name, content)
        with _progress(len(todo), progress) as advance:
            for future in as_completed(futures):
                name, content = futures.pop(future)
                try:
                    record = SubmissionRecord.from_dict(future.result())
                except BaseException as exc:  # a worker process died, the cluster failed ...
                    record = error_record(name, content, options, exc)
                started = time.process_time()
                write_submission(out_dir, record)
                batch.write_cpu += time.process_time() - started
                records[name] = record
                batch.graded += 1
                if name in previous:
                    if changes := changed_scores(previous[name], record):
                        batch.changes[name] = changes
                if on_result:
                    on_result(record)
                advance(record)
    finally:
        if own_executor:
            executor.shutdown()
    batch.records = [records[name] for name, _ in items]
    write_grades_csv(out_dir, batch.records)
    return batch


class _progress:
    """A rich progress bar with ETA on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled and total > 1

    def __enter__(self):
        if not self.enabled:
            return lambda record: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        # the description holds a file name: shown as text, never parsed as Rich markup
        self.bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            TextColumn("{task.description}", markup=False), transient=False, console=_console())
        self.bar.start()
        task = self.bar.add_task("", total=self.total)
        return lambda record: self.bar.update(task, advance=1, description=one_line(
            f"{record.file}: {record.score:g} ({record.status})", 120))

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()


def _console():
    from rich.console import Console

    return Console(stderr=True)
