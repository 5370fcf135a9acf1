"""Grading one submission: the unit of batch work.

``grade(task)`` takes plain data (the submission's name and bytes, the options) and returns
plain data (the :class:`grader.rubric.record.SubmissionRecord` that becomes ``results/<name>.json``, as
a dict). It is idempotent: its key is a hash of the content, the grader's version, the seed and
the conditions it is graded under (``grader.pipeline.tasks``), so any executor (a local pool, Dask, a SLURM array shard) can run it, retry
it, or skip it when the result already exists. Every record, graded or not, and the record of a
task that failed outside ``grade`` (:func:`error_record`), is built here, from one provenance.

:func:`grade_submission` is its steps, in order: read, plan, execute, score, record, each timed by
one :class:`~grader.pipeline.stopwatch.Stopwatch`. A submission that cannot be read ends at the first
(its status says why); the sandbox failing on its own (:class:`IsolationUnavailable`, a
:class:`~grader.core.errors.JobFailed`) ends the third with status ``error``.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from grader.core.errors import JobFailed
from grader.pipeline.execution import Execution, SandboxLost, execute
from grader.pipeline.stopwatch import Stopwatch, TimedWorker
from grader.rubric.exercises import EXERCISES, TOTAL_POINTS
from grader.rubric.probes import Plan
from grader.sandbox.isolation import IsolationUnavailable, require
from grader.pipeline.notebook import Submission, SubmissionError, load
from grader.rubric.record import Cells, CellError, CriterionRecord, ExerciseRecord, Provenance, SkippedCell, Status, \
    SubmissionRecord
from grader.rubric.scoring import ExerciseScore, score_exercise
from grader.pipeline.tasks import Options, conditions, grader_version, now, seed_of, task_key
from grader.core.text import file_name, plain
from grader.pipeline.plans import build_plans, cached_plans
from grader.pipeline.warm import get_worker


def provenance(content: bytes, options: Options) -> Provenance:
    """Where a result comes from, as known before grading: its key, the grader, the seed, the sandbox."""
    return Provenance(key=task_key(content, options), grader_version=grader_version(), seed=seed_of(content, options),
                      content_sha256=hashlib.sha256(content).hexdigest(), sandbox=options.sandbox,
                      executor=options.executor, graded_at=now(), conditions=conditions(options))


def not_graded(name: str, status: Status | str, message: str, origin: Provenance, *, why: str | None = None,
               notes: tuple[str, ...] = ()) -> SubmissionRecord:
    """The record of a submission that scores 0: every exercise of the registry says ``why``."""
    return SubmissionRecord.not_graded(name, status, message, ((q, ex.title, ex.points) for q, ex in EXERCISES.items()),
                                       float(TOTAL_POINTS), provenance=origin, notes=notes, why=why)


#: What a student reads when the grader failed on their submission: nothing to do on their side.
NOT_GRADED_HERE = ("not graded because of a problem on the grading side; your instructor has been told. "
                   "Nothing in your notebook caused it.")


def grader_failed(name: str, origin: Provenance, cause: str, notes: tuple[str, ...] = ()) -> SubmissionRecord:
    """The record of a submission the grader failed on (status ``error``): no points of the student's, the
    student told it is not their problem, and the ``cause`` kept for the instructor in the provenance."""
    return not_graded(name, Status.ERROR, NOT_GRADED_HERE, replace(origin, error=plain(cause, 600)), notes=notes)


def error_record(name: str, content: bytes, options: Options, exc: BaseException) -> SubmissionRecord:
    """The record of a submission whose task failed outside ``grade`` (a worker process died, the cluster failed)."""
    return grader_failed(name, provenance(content, options), f"{type(exc).__name__}: {str(exc)[:400]}")


def run_again_if_lost(cells: list[str], plans: dict[str, Plan], worker: Any, budget: float) -> Execution:
    """``execute``, run once more from the start, with the whole budget, in a fresh sandbox when the first
    was lost on the grading side (``SandboxLost``: a container stopped from outside, an engine restart):
    nothing of it is charged to the submission, and a note says it ran twice. Lost again: ``SandboxLost``."""
    try:
        return execute(cells, plans, worker, budget=budget)
    except SandboxLost as exc:
        first = str(exc)
    execution = execute(cells, plans, worker, budget=budget)
    execution.notes.append(f"the grader's sandbox was lost while this submission ran ({first}); it was run "
                           f"again from the start, and nothing of the first run counts")
    return execution


def exercise_record(score: ExerciseScore) -> ExerciseRecord:
    """An exercise's score as the record keeps it: each criterion's failure by its class name only."""
    criteria = tuple(CriterionRecord(c.name, c.points, c.max_points, c.message,
                                     type(c.failure).__name__ if c.failure else None) for c in score.criteria)
    return ExerciseRecord(score.title, score.points, score.max_points, score.feedback, score.note, criteria)


def grade(task: dict) -> dict:
    """Grade one submission. ``task``: {"name", "content" (bytes), "options" (dict)}; the record as plain data
    (:meth:`SubmissionRecord.to_dict`), which any executor can carry back. A task with ``refused``
    ({"status", "message"}: an archive or archive member not opened, see ``grader.pipeline.archives``) is not read."""
    if isinstance(refused := task.get("refused"), dict):
        options = Options.from_dict(task["options"])
        return not_graded(file_name(task["name"]), Status.of(refused["status"]), refused["message"],
                          provenance(task["content"], options), why=f"not graded: {refused['message']}").to_dict()
    return grade_submission(task["name"], task["content"], Options.from_dict(task["options"])).to_dict()


def grade_submission(name: str, content: bytes, options: Options) -> SubmissionRecord:
    """Grade one submission into its record: read it, plan the calls, execute it, score it, record it
    (see the module docstring). ``steps`` times each step (``grader.pipeline.stopwatch``)."""
    name = file_name(name)  # the student chose the name: one printable line
    steps = Stopwatch()
    with steps.timed("read"):
        origin = provenance(content, options)
        try:
            submission = load(name, content)
        except SubmissionError as exc:
            return not_graded(name, exc.status, exc.message, replace(origin, seconds=steps.seconds()),
                              why=f"not graded: {exc.message}")
    with steps.timed("plans"):
        plans, plans_cached = plan(origin.seed, options)
    worker = TimedWorker(get_worker(options))
    try:
        check_isolation(worker, options)
        with steps.timed("execute"):  # reading is part of the submission's time: the sandbox gets what is left
            execution = run_again_if_lost(submission.cells, plans, worker, options.limits.timeout - steps.wall["read"])
    except IsolationUnavailable as exc:
        return grader_failed(name, replace(origin, isolation=isolation_of(worker), seconds=steps.seconds()),
                             f"isolation refused: {exc}", tuple(submission.notes))
    except JobFailed as exc:
        return grader_failed(name, replace(origin, isolation=isolation_of(worker), seconds=steps.seconds()),
                             f"the sandbox failed, not the submission: {exc}", tuple(submission.notes))
    with steps.timed("checks"):
        exercises = score(plans, execution)
    origin = replace(origin, isolation=isolation_of(worker), cpu=steps.spent(worker, plans_cached))
    return graded_record(name, submission, execution, exercises, options, origin, steps)


def plan(seed: int, options: Options) -> tuple[dict[str, Plan], bool]:
    """The calls of every exercise for ``seed``, and whether they came from the cache (a seed that comes
    back, fixed by ``--seed`` or ``--seed-secret``, keeps its plans)."""
    if options.seed is not None or options.seed_secret:
        return cached_plans(seed)
    return build_plans(seed), False


def isolation_of(worker: Any) -> str | None:
    """The isolation the worker reported it holds (``uid+landlock``, ``docker`` ...), if it said."""
    return getattr(worker, "info", {}).get("isolation")


def check_isolation(worker: Any, options: Options) -> None:
    """:class:`IsolationUnavailable` when the process sandbox holds less than ``--require-isolation``
    (a container is at the top already)."""
    if options.sandbox == "process":
        require(isolation_of(worker) or "none", options.require_isolation)


def score(plans: dict[str, Plan], execution: Execution) -> dict[str, ExerciseRecord]:
    """Every exercise's score, from the outcomes of its calls."""
    return {q: exercise_record(score_exercise(ex, plans[q], execution.outcomes[q], execution.exercise_notes.get(q, "")))
            for q, ex in EXERCISES.items()}


def graded_record(name: str, submission: Submission, execution: Execution, exercises: dict[str, ExerciseRecord],
           options: Options, origin: Provenance, steps: Stopwatch) -> SubmissionRecord:
    """The record of a submission that ran: its scores, what went wrong in its cells, its notes, and a
    ``timeout`` status when it used up its time."""
    cells = Cells(len(submission.cells),
                  tuple(CellError(i + 1, **err) for i, err in sorted(execution.cell_errors.items())),
                  tuple(SkippedCell(i + 1, why) for i, why in sorted(execution.skipped_cells.items())))
    status, message = Status.GRADED, ""
    if execution.timed_out:
        status, message = Status.TIMEOUT, (f"the submission used up its {options.limits.timeout:g} s; "
                                           "what ran before that is graded.")
    return SubmissionRecord.graded(name, exercises, float(TOTAL_POINTS), cells=cells,
                                   notes=(*submission.notes, *execution.notes), status=status, message=message,
                                   provenance=replace(origin, seconds=steps.seconds()))
