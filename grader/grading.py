"""Grading one submission: the unit of batch work.

``grade(task)`` takes plain data (the submission's name and bytes, the
options) and returns plain data (the result record that becomes
``results/<name>.json``). It is idempotent: its key is a hash of the content,
the grader's version and the seed, so any executor (a local pool, Dask, a SLURM
array shard) can run it, retry it, or skip it when the result already exists.
"""
from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.exercises import EXERCISES, TOTAL_POINTS
from grader.docker_sandbox import DockerWorker
from grader.execution import JobDidNotStart, execute
from grader.notebook import SubmissionError, load
from grader.probes import submission_seed
from grader.sandbox import IsolationUnavailable, Limits, Zygote, require
from grader.scoring import ExerciseScore, score_exercise
from grader.text import file_name

SCHEMA = 1


@lru_cache(maxsize=1)
def grader_version() -> str:
    """The release plus a digest of the grading code, so any change to a check is a new version."""
    digest = hashlib.sha256()
    for package in ("grader", "reference"):
        root = Path(__import__(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"


@dataclass(frozen=True)
class Options:
    """How to grade: plain data, so it can travel with a task to any executor."""

    seed: int | None = None
    sandbox: str = "process"
    limits: Limits = field(default_factory=Limits)
    image: str = "activation-grader:latest"
    isolation: str = "auto"
    require_isolation: str | None = None
    executor: str = "local"
    fresh_containers: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Options":
        d = dict(d)
        d["limits"] = Limits(**d.get("limits", {}))
        return cls(**d)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def task_key(content: bytes, options: Options) -> str:
    """What identifies a result: content, grader version and seed."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(content).digest())
    h.update(grader_version().encode())
    h.update(str(submission_seed(content, options.seed)).encode())
    return h.hexdigest()


# -- workers are per process and reused: a zygote is warm after its first submission --------------
_workers: dict[tuple, Any] = {}


def get_worker(options: Options):
    key = (options.sandbox, options.limits, options.image, options.isolation, options.fresh_containers)
    worker = _workers.get(key)
    if worker is None:
        slot = os.getpid() % 4000
        if options.sandbox == "docker":
            worker = DockerWorker(slot, options.limits, options.image, fresh=options.fresh_containers)
        else:
            worker = Zygote(slot, options.limits, options.isolation)
            worker.start()
        _workers[key] = worker
    return worker


def close_workers() -> None:
    for worker in _workers.values():
        worker.close()
    _workers.clear()


def build_plans(seed: int) -> dict:
    """Every exercise's plan; overflow in the answer keys' tails is expected and harmless."""
    with np.errstate(all="ignore"):
        return {q: ex.plan(seed) for q, ex in EXERCISES.items()}


def grade(task: dict) -> dict:
    """Grade one submission. ``task``: {"name", "content" (bytes), "options" (dict)}."""
    options = Options.from_dict(task["options"])
    name, content = file_name(task["name"]), task["content"]  # the student chose the name: one printable line
    started = time.monotonic()
    seed = submission_seed(content, options.seed)
    record: dict[str, Any] = {
        "schema": SCHEMA, "file": name, "status": "graded", "message": "", "score": 0.0,
        "possible": float(TOTAL_POINTS), "exercises": {}, "cells": {}, "notes": [],
        "provenance": {"key": task_key(content, options), "grader_version": grader_version(), "seed": seed,
                       "content_sha256": hashlib.sha256(content).hexdigest(), "sandbox": options.sandbox,
                       "executor": options.executor, "isolation": None, "graded_at": now()},
    }
    try:
        submission = load(name, content)
    except SubmissionError as exc:
        record.update(status=exc.status, message=exc.message)
        record["exercises"] = {q: _zero(q, f"not graded: {exc.message}") for q in EXERCISES}
        record["provenance"]["seconds"] = round(time.monotonic() - started, 3)
        return record
    read_seconds = time.monotonic() - started
    record["notes"] = list(submission.notes)
    plans = build_plans(seed)
    worker = get_worker(options)
    try:
        if options.sandbox == "process":  # a container is at the top already
            require(getattr(worker, "info", {}).get("isolation") or "none", options.require_isolation)
        # reading (bounded by notebook.ReadLimits) is part of the submission's time: the sandbox gets what is left
        execution = execute(submission.cells, plans, worker, budget=options.limits.timeout - read_seconds)
    except (JobDidNotStart, IsolationUnavailable) as exc:
        message = (f"not graded: {exc}" if isinstance(exc, IsolationUnavailable) else
                   f"the grader's sandbox failed, not the submission: {exc}. Nothing was graded; run again.")
        record.update(status="error", message=message)
        record["exercises"] = {q: _zero(q, message) for q in EXERCISES}
        record["provenance"]["isolation"] = getattr(worker, "info", {}).get("isolation")
        record["provenance"]["seconds"] = round(time.monotonic() - started, 3)
        return record
    record["provenance"]["isolation"] = getattr(worker, "info", {}).get("isolation")
    record["notes"] += execution.notes
    record["cells"] = {"count": len(submission.cells),
                       "errors": [{"cell": i + 1, **err} for i, err in sorted(execution.cell_errors.items())],
                       "skipped": [{"cell": i + 1, "why": why} for i, why in sorted(execution.skipped_cells.items())]}
    for q, ex in EXERCISES.items():
        score = score_exercise(ex, plans[q], execution.outcomes[q], execution.exercise_notes.get(q, ""))
        record["exercises"][q] = _exercise_record(score)
    record["score"] = round(sum(e["score"] for e in record["exercises"].values()), 4)
    if execution.timed_out:
        record.update(status="timeout", message=f"the submission used up its {options.limits.timeout:g} s; "
                                                "what ran before that is graded.")
    record["provenance"]["seconds"] = round(time.monotonic() - started, 3)
    return record


def _exercise_record(score: ExerciseScore) -> dict:
    return {"title": score.title, "score": score.points, "max_score": score.max_points,
            "feedback": score.feedback, "note": score.note,
            "criteria": [{"name": c.name, "points": c.points, "max_points": c.max_points, "message": c.message,
                          "kind": type(c.failure).__name__ if c.failure else None} for c in score.criteria]}


def _zero(q: str, why: str) -> dict:
    ex = EXERCISES[q]
    return {"title": ex.title, "score": 0.0, "max_score": float(ex.points), "feedback": f"{q}: {ex.title}: 0 / "
            f"{ex.points}\n{why}", "criteria": []}
