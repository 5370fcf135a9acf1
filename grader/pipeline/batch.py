"""Grading many submissions: one task per submission through an executor.

The runner never schedules anything itself. It hands each task (plain data in,
plain data out, see ``grader.pipeline.grading.grade``) to a ``concurrent.futures``-style
executor: a local process pool by default, or a Dask cluster
(``grader.pipeline.executors``). Each result is written atomically as soon as it
arrives, so an interrupted run loses nothing; a result already on disk with the
same key (content, grader version, seed, sandbox, isolation, limits, seeding) is
not recomputed, and the run says why the others were (``grader.pipeline.regrade``).
Nothing grows with the class but one small :class:`Entry` per submission (its
CSV row and status).

Faults on the grading side (``grader.pipeline.faults``) stop the run cleanly: on SIGINT or
SIGTERM the tasks in flight are stopped and ``final_grades.csv`` lists what was
graded; when the output directory cannot be written the run stops with
:class:`OutputFailed`; a lost pool process is replaced and its submissions are
graded again once.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from grader.pipeline.archives import ArchiveRefused
from grader.core.errors import GraderError
from grader.pipeline.executors import LocalExecutor, as_completed
from grader.pipeline.faults import LOST_WORKER, OutputFailed, lost_worker, signal_number, signals_deferred
from grader.pipeline.grading import error_record, grade, grader_failed, provenance
from grader.sandbox.isolation import isolation_mode
from grader.rubric.record import ERROR, SubmissionRecord
from grader.pipeline.regrade import changed_scores, reuse_obstacles, summarize_reasons
from grader.reports.files import CSV_COLUMNS, csv_row, load_record, read_record, safe_name, write_grades_rows, write_submission
from grader.pipeline.submissions import Submission, collect, shard_of
from grader.pipeline.tasks import Options, grading_key
from grader.core.text import one_line


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
    new: int = 0  # submissions with no result on disk yet
    regraded: int = 0  # submissions whose result on disk was not reused, and ...
    regraded_because: Counter = field(default_factory=Counter)  # ... why (one count per reason)
    failures: dict[str, str] = field(default_factory=dict)  # status ``error``: the grader's failure, by file
    lost_workers: int = 0  # grading processes lost mid-run (their submissions were graded again)
    interrupted: int | None = None  # the signal that stopped the run
    remaining: int = 0  # submissions an interrupted run left without a row

    @property
    def records(self) -> Sequence[SubmissionRecord]:
        """Every submission's record, in input order, read from ``results/`` on access."""
        return RecordsOnDisk(self.out_dir, self.entries)

    @property
    def reuse_summary(self) -> str:
        """``12 reused; 288 regraded: sandbox changed process→docker`` (then how many had no result yet)."""
        line = summarize_reasons(self.reused, self.regraded_because, self.regraded)
        return line + (f"; {self.new} new" if self.new else "")


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
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFailed(f"cannot create the output directory {out_dir} ({exc.strerror or exc}).") from None
    items = shard_of(collect(paths), shard)
    batch = Batch(out_dir=out_dir)
    entries: dict[str, Entry] = {}  # by output stem: two inputs may show the same name
    todo, previous = _plan(items, out_dir, options, regrade, batch, entries)
    pool = _Pool(executor, jobs)
    window = None if getattr(pool.executor, "submit_keyed", None) else max(2, IN_FLIGHT_PER_JOB * max(1, jobs))
    task_options = options.to_dict()
    retry: deque = deque()  # submissions whose grading process was lost: graded again, once
    tries: Counter = Counter()

    def start(item: Submission):
        tries[item.stem] += 1
        task = {"name": item.name, "content": b"", "options": task_options}
        try:
            task["content"] = item.read()
        except ArchiveRefused as exc:  # refused, or its bytes cannot be read from the archive
            task["refused"] = {"status": exc.status, "message": exc.message}
        return pool.submit(task)

    try:
        with _progress(len(todo), progress) as advance:
            for item, future in _in_flight(todo, start, window, retry):
                try:
                    record = SubmissionRecord.from_dict(future.result())
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # a worker process died, the cluster failed ...
                    if lost_worker(exc) and pool.own and tries[item.stem] < 2:
                        retry.append(item)
                        continue
                    record = _failure(item, options, exc)
                del future
                _keep(batch, entries, out_dir, item, record, item.stem in previous)
                if on_result:
                    on_result(record)
                advance(record)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM under grader.pipeline.faults.signals_interrupt
        with signals_deferred():
            batch.interrupted = signal_number(exc)
            pool.stop()
    except OutputFailed:
        with signals_deferred():
            pool.stop()
        raise
    finally:
        pool.shutdown()
        batch.lost_workers = pool.lost
    batch.entries = [entries[item.stem] for item in items if item.stem in entries]
    batch.remaining = len(items) - len(batch.entries)
    with signals_deferred():
        _write_rows(out_dir, batch)
    return batch


def _plan(items: list[Submission], out_dir: Path, options: Options, regrade: bool, batch: Batch,
          entries: dict[str, Entry]) -> tuple[list[Submission], set[str]]:
    """Which submissions to grade (the others' results on disk are reused, into ``entries``), and which of
    those were graded before (their old record is read again when the new one arrives, to say what
    changed). Counts in ``batch`` why each result on disk was not reused."""
    expected = _expected_isolation(options)
    todo: list[Submission] = []
    previous: set[str] = set()  # output stems graded before
    for item in items:
        stem = item.stem
        result_path = out_dir / "results" / f"{stem}.json"
        if item.refused is not None or not result_path.exists():  # a refused member: cheap, never reused
            batch.new += 1
            todo.append(item)
            continue
        existing = read_record(result_path)
        if regrade:
            reasons = ["--regrade"]
        elif existing is not None and existing.file != item.name:
            reasons = ["its output file held another submission"]
        elif not (out_dir / "feedback" / f"{stem}.md").exists():
            reasons = ["its feedback file is missing"]
        else:
            reasons = reuse_obstacles(existing, provenance(_content(item), options), expected_isolation=expected,
                                      required_isolation=options.require_isolation)
        if not reasons:
            entries[stem] = Entry.of(existing, stem)
            batch.reused += 1
            continue
        batch.regraded += 1
        batch.regraded_because.update(reasons)
        if existing is None or existing.file == item.name:
            previous.add(stem)
        todo.append(item)
    return todo, previous


def _expected_isolation(options: Options) -> str | None:
    """The isolation mode this run's process sandbox will have, where that is known here (it runs on this
    host): a result graded with another one is graded again. None for Docker and Dask."""
    if options.sandbox != "process" or options.executor != "local":
        return None
    try:
        return isolation_mode(options.isolation)
    except GraderError:
        return None


def _failure(item: Submission, options: Options, exc: BaseException) -> SubmissionRecord:
    """The record of a submission whose task failed outside ``grade``."""
    if lost_worker(exc):
        return grader_failed(item.name, provenance(_content(item), options), f"{LOST_WORKER} ({type(exc).__name__})")
    return error_record(item.name, _content(item), options, exc)


def _keep(batch: Batch, entries: dict[str, Entry], out_dir: Path, item: Submission, record: SubmissionRecord,
          graded_before: bool) -> None:
    """Write one submission's results and feedback, and remember its row; :class:`OutputFailed` if the output
    directory cannot take them (the run stops: nothing after it could be written either)."""
    if graded_before:
        old = read_record(out_dir / "results" / f"{item.stem}.json")
        if old and (changes := changed_scores(old, record)):
            batch.changes[item.name] = changes
    started = time.process_time()
    try:
        write_submission(out_dir, record, item.stem)
    except OSError as exc:
        raise OutputFailed(_output_failed(out_dir, exc, len(entries) - batch.reused, entries, batch)) from None
    batch.write_cpu += time.process_time() - started
    entries[item.stem] = Entry.of(record, item.stem)
    batch.graded += 1
    if record.status == ERROR:
        batch.failures[item.name] = record.provenance.error or record.message


def _write_rows(out_dir: Path, batch: Batch) -> None:
    """``final_grades.csv`` for every submission that has a row; :class:`OutputFailed` if it cannot be written."""
    try:
        write_grades_rows(out_dir, [e.row for e in batch.entries])
    except OSError as exc:
        raise OutputFailed(f"could not write {out_dir / 'final_grades.csv'} ({exc.strerror or exc}); the "
                           f"{batch.graded} result(s) graded in this run are kept in {out_dir / 'results'}, each "
                           f"file whole. Free some space (or choose another --out) and run the same command "
                           f"again: it reuses them and writes the table.") from None


def _output_failed(out_dir: Path, exc: OSError, graded: int, entries: dict, batch: Batch) -> str:
    """One message for an output directory that stopped taking files: what happened, what was kept, what to do.
    ``final_grades.csv`` is written for what was kept if it still fits."""
    batch.entries = list(entries.values())
    try:
        write_grades_rows(out_dir, [e.row for e in batch.entries])
        table = f"{out_dir / 'final_grades.csv'} lists them"
    except OSError:
        table = "final_grades.csv could not be written either"
    return (f"could not write to {out_dir} ({exc.strerror or exc}): the run stopped. Kept: the {graded} "
            f"submission(s) graded before it in this run (and {batch.reused} reused), each file whole; {table}. "
            f"Free some space (or choose another --out) and run the same command again: it resumes where this "
            f"run stopped.")


class _Pool:
    """The executor of a run: the caller's, or a local process pool of its own, which is replaced when one of
    its processes is lost (killed by the out-of-memory killer, say: the pool is then broken for good)."""

    def __init__(self, executor, jobs: int) -> None:
        self.own = executor is None
        self.jobs = max(1, jobs)
        self.executor = LocalExecutor(self.jobs) if self.own else executor
        self.lost = 0

    def submit(self, task: dict):
        try:
            return submit(self.executor, task)
        except BrokenProcessPool:
            if not self.own:
                raise
            self.lost += 1
            self.executor.shutdown(wait=True)
            self.executor = LocalExecutor(self.jobs)
            return submit(self.executor, task)

    def stop(self) -> None:
        """End what is in flight now (an interruption, a full disk)."""
        stop = getattr(self.executor, "stop", None)
        if self.own and stop is not None:
            stop()

    def shutdown(self) -> None:
        if self.own:
            self.executor.shutdown()


def _content(item: Submission) -> bytes:
    """The submission's bytes again, for the key of an error record; none if it is gone or refused (an error
    is never reused, so that key only has to be a key)."""
    try:
        return item.read()
    except (OSError, ArchiveRefused):
        return b""


def _in_flight(todo: list, start: Callable, window: int | None,
               retry: deque | None = None) -> Iterator[tuple[tuple, object]]:
    """(item, finished future) for every item of ``todo``, started by ``start(item)``, as they finish.

    With a ``window``, at most that many are in flight: the next starts when one finishes, and an item
    put into ``retry`` meanwhile starts again first. Without (Dask: the tasks wait on the scheduler, not
    here, which retries them itself), every task is handed out at once.
    """
    pending = iter(todo)
    futures = {}
    retry = deque() if retry is None else retry

    def fill() -> None:
        while window is None or len(futures) < window:
            item = retry.popleft() if retry else next(pending, None)
            if item is None:
                return
            futures[start(item)] = item

    fill()
    if window is None:
        for future in as_completed(list(futures)):
            yield futures.pop(future), future
        return
    while futures or retry:
        fill()
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
