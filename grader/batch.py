"""Grading many submissions: one task per submission through an executor.

The runner never schedules anything itself. It hands each task (plain data in,
plain data out, see ``grader.grading.grade``) to a ``concurrent.futures``-style
executor: a local process pool by default, or a Dask cluster
(``grader.executors``). Each result is written atomically as soon as it
arrives, so an interrupted run loses nothing; a result already on disk with the
same key (content, grader version, seed) is not recomputed. Nothing grows with the
class but one small :class:`Entry` per submission (its CSV row and status).
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.executors import LocalExecutor, as_completed
from grader.archives import ArchiveRefused
from grader.grading import error_record, grade
from grader.record import ERROR, SubmissionRecord
from grader.regrade import changed_scores
from grader.report import CSV_COLUMNS, csv_row, load_record, read_record, safe_name, write_grades_rows, write_submission
from grader.submissions import Submission, collect, shard_of
from grader.tasks import Options, grading_key, task_key
from grader.text import one_line


@dataclass(frozen=True, slots=True)
class Entry:
    """What the end of a run needs of one submission: its CSV row, status and isolation, not its record."""

    file: str
    stem: str
    status: str
    isolation: str | None
    row: tuple

    @classmethod
    def of(cls, record: SubmissionRecord, stem: str | None = None) -> Entry:
        row = csv_row(record)
        return cls(record.file, stem or safe_name(record.file), record.status, record.provenance.isolation,
                   tuple(row[c] for c in CSV_COLUMNS))


class RecordsOnDisk(Sequence):
    """The records of a run, in input order, each read from its results file when asked for.

    A run keeps no record in memory once it is written (the batch process stays the same size
    for 20 submissions or 20,000); what was written is what this returns.
    """

    def __init__(self, out_dir: Path, entries: list[Entry]) -> None:
        self._results, self._entries = out_dir / "results", entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return load_record(self._results / f"{self._entries[index].stem}.json")


@dataclass
class Batch:
    """What a batch run did; ``entries`` in input order, one per submission (``records`` reads them back)."""

    out_dir: Path = Path(".")
    entries: list[Entry] = field(default_factory=list)
    reused: int = 0
    graded: int = 0
    changes: dict[str, list[str]] = field(default_factory=dict)
    write_cpu: float = 0.0  # seconds of this process's CPU spent writing results and feedback

    @property
    def records(self) -> Sequence[SubmissionRecord]:
        """Every submission's record, in input order, read from ``results/`` on access."""
        return RecordsOnDisk(self.out_dir, self.entries)


def submit(executor, task: dict):
    """Hand one grading task to ``executor``. An executor that names its tasks (``submit_keyed``: Dask) gets
    the task's key, so that the same task is computed once, and the resources it needs (a host with Docker)."""
    keyed = getattr(executor, "submit_keyed", None)
    if keyed is None:
        return executor.submit(grade, task)
    resources = {"sandbox": 1} if task["options"].get("sandbox") == "docker" else None
    return keyed(grading_key(task), grade, task, resources=resources)


#: Tasks in flight per job on a local pool: enough to keep every process busy, few enough that the
#: submissions waiting for a process are not all read into memory at once.
IN_FLIGHT_PER_JOB = 4


def run(paths: list[Path], out_dir: Path, options: Options, *, jobs: int = 1, executor=None,
        regrade: bool = False, shard: tuple[int, int] | None = None,
        on_result: Callable[[SubmissionRecord], None] | None = None, progress: bool = True) -> Batch:
    """Grade every submission under ``paths`` into ``out_dir``; see the module docstring.

    Memory stays flat however large the class: a submission is read when its task is handed
    out (at most ``IN_FLIGHT_PER_JOB`` per job in flight on a local pool), and each record is
    let go once it is written, keeping only its CSV row and status (:class:`Entry`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    items = shard_of(collect(paths), shard)
    batch = Batch(out_dir=out_dir)
    entries: dict[str, Entry] = {}  # by output stem: two inputs may show the same name
    todo: list[Submission] = []
    previous: set[str] = set()  # graded before: its old record is read again when the new one arrives
    for item in items:
        if item.refused is not None:  # an archive or a member not opened: its row says why (cheap: never reused)
            todo.append(item)
            continue
        result_path = out_dir / "results" / f"{item.stem}.json"
        if not result_path.exists():
            todo.append(item)
            continue
        existing = None if regrade else read_record(result_path)
        # a grader failure ("error") is never reused: the next run tries again
        if (existing and existing.status != ERROR and existing.file == item.name
                and existing.provenance.key == task_key(_content(item), options)):
            entries[item.stem] = Entry.of(existing, item.stem)
            batch.reused += 1
        else:
            if existing is None or existing.file == item.name:
                previous.add(item.stem)
            todo.append(item)
    own_executor = executor is None
    if own_executor:
        executor = LocalExecutor(max(1, jobs))
    window = None if getattr(executor, "submit_keyed", None) else max(2, IN_FLIGHT_PER_JOB * max(1, jobs))
    task_options = options.to_dict()

    def start(item: Submission):
        task = {"name": item.name, "content": b"", "options": task_options}
        try:
            task["content"] = item.read()
        except ArchiveRefused as exc:  # refused, or its bytes cannot be read from the archive
            task["refused"] = {"status": exc.status, "message": exc.message}
        return submit(executor, task)

    try:
        with _progress(len(todo), progress) as advance:
            for item, future in _in_flight(todo, start, window):
                try:
                    record = SubmissionRecord.from_dict(future.result())
                except BaseException as exc:  # a worker process died, the cluster failed ...
                    record = error_record(item.name, _content(item), options, exc)
                del future
                if item.stem in previous:
                    old = read_record(out_dir / "results" / f"{item.stem}.json")
                    if old and (changes := changed_scores(old, record)):
                        batch.changes[item.name] = changes
                started = time.process_time()
                write_submission(out_dir, record, item.stem)
                batch.write_cpu += time.process_time() - started
                entries[item.stem] = Entry.of(record, item.stem)
                batch.graded += 1
                if on_result:
                    on_result(record)
                advance(record)
    finally:
        if own_executor:
            executor.shutdown()
    batch.entries = [entries[item.stem] for item in items]
    write_grades_rows(out_dir, [e.row for e in batch.entries])
    return batch


def _content(item: Submission) -> bytes:
    """The submission's bytes again, for the key of an error record; none if it is gone (an error is never
    reused, so that key only has to be a key)."""
    try:
        return item.read()
    except (OSError, ArchiveRefused):
        return b""


def _in_flight(todo: list, start: Callable, window: int | None) -> Iterator[tuple[tuple, object]]:
    """(item, finished future) for every item of ``todo``, started by ``start(item)``, as they finish.

    With a ``window``, at most that many are in flight: the next starts when one finishes.
    Without (Dask: the tasks wait on the scheduler, not here), every task is handed out at once.
    """
    pending = iter(todo)
    futures = {}

    def fill() -> None:
        while window is None or len(futures) < window:
            item = next(pending, None)
            if item is None:
                return
            futures[start(item)] = item

    fill()
    if window is None:
        for future in as_completed(list(futures)):
            yield futures.pop(future), future
        return
    while futures:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        for future in done:
            yield futures.pop(future), future
        fill()


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
