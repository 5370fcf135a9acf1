"""Grading one submission: the unit of batch work.

``grade(task)`` takes plain data (the submission's name and bytes, the options) and returns
plain data (the :class:`grader.rubric.record.SubmissionRecord` that becomes ``results/<name>.json``, as
a dict). It is idempotent: its key is a hash of the content, the grader's version, the seed and
the conditions it is graded under (``grader.pipeline.tasks``), so any executor (a local pool, Dask, a SLURM array shard) can run it, retry
it, or skip it when the result already exists. Every record, graded or not, and the record of a
task that failed outside ``grade`` (:func:`error_record`), is built here, from one provenance.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from typing import Any

from grader.pipeline.execution import JobDidNotStart, SandboxLost, execute
from grader.rubric.exercises import EXERCISES, TOTAL_POINTS
from grader.sandbox.isolation import IsolationUnavailable, require
from grader.pipeline.notebook import SubmissionError, load
from grader.rubric.record import ERROR, TIMEOUT, Cells, CellError, CriterionRecord, ExerciseRecord, Provenance, SkippedCell, \
    SubmissionRecord
from grader.rubric.scoring import ExerciseScore, score_exercise
from grader.pipeline.tasks import Options, conditions, grader_version, now, seed_of, task_key
from grader.core.text import file_name, plain
from grader.pipeline.plans import build_plans, cached_plans
from grader.pipeline.warm import get_worker


class _Timed:
    """A worker seen through a stopwatch: the trusted CPU spent sending the job and reading frames,
    and what the sandbox says it spent (the child's ``done`` frame, the zygote's exit report).
    Those figures come from the untrusted side: they are shown, never used for anything else."""

    def __init__(self, worker: Any) -> None:
        self._worker = worker
        self.send = self.frames = 0.0
        self.child: Any = None
        self.exit: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._worker, name)

    def begin(self, job: dict) -> None:
        t = time.process_time()
        try:
            self._worker.begin(job)
        finally:
            self.send += time.process_time() - t

    def poll(self, deadline: float) -> tuple[str, Any]:
        t = time.process_time()
        kind, payload = self._worker.poll(deadline)
        if kind == "exit" and isinstance(payload, dict):
            self.exit = payload
        elif kind == "frames" and isinstance(payload, list) and payload:
            last = payload[-1]
            if isinstance(last, dict) and last.get("ev") == "done":
                self.child = last.get("cpu")
        self.frames += time.process_time() - t
        return kind, payload


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _reported_ms(value: Any) -> float | None:
    """A figure the sandbox reported, in ms, if it is a plausible number of seconds."""
    if type(value) in (int, float) and 0 <= value < 1e6:
        return round(value * 1000, 2)
    return None


def child_cpu(timed: _Timed) -> dict:
    """The sandbox's own account of a job's CPU, in ms (informational: the student's process can
    write any frame it likes). ``isolation``: what the job's processes spent outside the student's
    cells and calls (forks, namespaces, mounts, dropping privileges, reading the job), plus the
    zygote's own work for the job (the fork, relaying the output, cleaning up)."""
    out: dict[str, Any] = {}
    child = timed.child if isinstance(timed.child, dict) else {}
    for part in ("setup", "cells", "calls", "encode"):
        out[part] = _reported_ms(child.get(part))
    exit_info = timed.exit if isinstance(timed.exit, dict) else {}
    total, zygote = _reported_ms(exit_info.get("cpu")), _reported_ms(exit_info.get("zygote_cpu"))
    out["total"] = None if total is None else round(total + (zygote or 0.0), 2)
    work = [out[p] for p in ("cells", "calls", "encode")]
    if out["total"] is not None and None not in work:
        out["isolation"] = round(max(0.0, out["total"] - sum(work)), 2)
    else:
        out["isolation"] = None
    out["zygote"] = zygote
    return out


def provenance(content: bytes, options: Options) -> Provenance:
    """Where a result comes from, as known before grading: its key, the grader, the seed, the sandbox."""
    return Provenance(key=task_key(content, options), grader_version=grader_version(), seed=seed_of(content, options),
                      content_sha256=hashlib.sha256(content).hexdigest(), sandbox=options.sandbox,
                      executor=options.executor, graded_at=now(), conditions=conditions(options))


def not_graded(name: str, status: str, message: str, origin: Provenance, *, why: str | None = None,
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
    return not_graded(name, ERROR, NOT_GRADED_HERE, replace(origin, error=plain(cause, 600)), notes=notes)


def error_record(name: str, content: bytes, options: Options, exc: BaseException) -> SubmissionRecord:
    """The record of a submission whose task failed outside ``grade`` (a worker process died, the cluster failed)."""
    return grader_failed(name, provenance(content, options), f"{type(exc).__name__}: {str(exc)[:400]}")


def run_again_if_lost(cells: list[str], plans: dict, worker: Any, budget: float) -> Any:
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
        return not_graded(file_name(task["name"]), refused["status"], refused["message"],
                          provenance(task["content"], options), why=f"not graded: {refused['message']}").to_dict()
    return grade_submission(task["name"], task["content"], Options.from_dict(task["options"])).to_dict()


def grade_submission(name: str, content: bytes, options: Options) -> SubmissionRecord:
    """Grade one submission into its record (see the module docstring)."""
    name = file_name(name)  # the student chose the name: one printable line
    started, cpu_started = time.monotonic(), time.process_time()
    origin = provenance(content, options)
    seed = origin.seed

    def took() -> float:
        return round(time.monotonic() - started, 3)

    try:
        submission = load(name, content)
    except SubmissionError as exc:
        return not_graded(name, exc.status, exc.message, replace(origin, seconds=took()),
                          why=f"not graded: {exc.message}")
    read_seconds = time.monotonic() - started
    cpu: dict[str, Any] = {"read": time.process_time() - cpu_started}
    t = time.process_time()
    if options.seed is not None or options.seed_secret:  # a seed that comes back: keep its plans
        plans, hit = cached_plans(seed)
    else:
        plans, hit = build_plans(seed), False
    cpu["plans"] = time.process_time() - t
    worker = _Timed(get_worker(options))
    try:
        if options.sandbox == "process":  # a container is at the top already
            require(getattr(worker, "info", {}).get("isolation") or "none", options.require_isolation)
        # reading (bounded by notebook.ReadLimits) is part of the submission's time: the sandbox gets what is left
        t = time.process_time()
        execution = run_again_if_lost(submission.cells, plans, worker, options.limits.timeout - read_seconds)
        cpu["execute"] = time.process_time() - t
    except (JobDidNotStart, IsolationUnavailable, SandboxLost) as exc:
        cause = (f"isolation refused: {exc}" if isinstance(exc, IsolationUnavailable) else
                 f"the sandbox failed, not the submission: {exc}")
        isolation = getattr(worker, "info", {}).get("isolation")
        return grader_failed(name, replace(origin, isolation=isolation, seconds=took()), cause,
                             tuple(submission.notes))
    isolation = getattr(worker, "info", {}).get("isolation")
    cells = Cells(len(submission.cells),
                  tuple(CellError(i + 1, **err) for i, err in sorted(execution.cell_errors.items())),
                  tuple(SkippedCell(i + 1, why) for i, why in sorted(execution.skipped_cells.items())))
    t = time.process_time()
    exercises = {q: exercise_record(score_exercise(ex, plans[q], execution.outcomes[q],
                                                   execution.exercise_notes.get(q, "")))
                 for q, ex in EXERCISES.items()}
    cpu["checks"] = time.process_time() - t
    # where this submission's CPU went, in ms: the trusted side measured here, the child's as reported
    trusted = {"read": _ms(cpu["read"]), "plans": _ms(cpu["plans"]), "send": _ms(worker.send),
               "frames": _ms(worker.frames), "decode": _ms(cpu["execute"] - worker.send - worker.frames),
               "checks": _ms(cpu["checks"]), "total": _ms(time.process_time() - cpu_started)}
    status, message = "graded", ""
    if execution.timed_out:
        status, message = TIMEOUT, (f"the submission used up its {options.limits.timeout:g} s; "
                                    "what ran before that is graded.")
    spent = {"trusted": trusted, "child": child_cpu(worker), "plans_cached": hit}
    return SubmissionRecord.graded(name, exercises, float(TOTAL_POINTS), cells=cells,
                                   notes=(*submission.notes, *execution.notes), status=status, message=message,
                                   provenance=replace(origin, isolation=isolation, cpu=spent, seconds=took()))
