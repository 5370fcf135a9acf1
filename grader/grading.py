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
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.exercises import EXERCISES, TOTAL_POINTS
from grader.docker_sandbox import DockerWorker
from grader.execution import JobDidNotStart, execute
from grader.isolation import IsolationUnavailable, require
from grader.notebook import SubmissionError, load
from grader.probes import DEFAULT_SEED_POOL, submission_seed
from grader.sandbox import Limits, Zygote
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
    seed_secret: str | None = None  # the instructor's: never written to a result
    seed_pool: int = DEFAULT_SEED_POOL

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Options":
        d = dict(d)
        d["limits"] = Limits(**d.get("limits", {}))
        return cls(**d)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seed_of(content: bytes, options: Options) -> int:
    """The submission's seed under these options (see ``grader.probes.submission_seed``)."""
    return submission_seed(content, options.seed, options.seed_secret, options.seed_pool)


def task_key(content: bytes, options: Options) -> str:
    """What identifies a result: content, grader version and seed."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(content).digest())
    h.update(grader_version().encode())
    h.update(str(seed_of(content, options)).encode())
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


# -- plans by seed, per process: a seed from a pool (or --seed) comes back, its answer keys need not ---
PLAN_CACHE_SIZE = 64
_plan_cache: OrderedDict[int, dict] = OrderedDict()


def cached_plans(seed: int) -> tuple[dict, bool]:
    """(plans for ``seed``, whether they came from this process's cache). Cached plans are shared
    by every submission with that seed, so their arrays are made read-only: a check that wrote to
    an answer key would fail loudly instead of changing the next submission's key."""
    plans = _plan_cache.get(seed)
    if plans is not None:
        _plan_cache.move_to_end(seed)
        return plans, True
    plans = build_plans(seed)
    for plan in plans.values():
        _freeze(plan.expected)
        for call in plan.calls:
            _freeze(call.args)
            _freeze(call.kwargs)
    _plan_cache[seed] = plans
    while len(_plan_cache) > PLAN_CACHE_SIZE:
        _plan_cache.popitem(last=False)
    return plans, False


def _freeze(value: Any) -> None:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, dict):
        for v in value.values():
            _freeze(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _freeze(v)


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


def grade(task: dict) -> dict:
    """Grade one submission. ``task``: {"name", "content" (bytes), "options" (dict)}."""
    options = Options.from_dict(task["options"])
    name, content = file_name(task["name"]), task["content"]  # the student chose the name: one printable line
    started, cpu_started = time.monotonic(), time.process_time()
    seed = seed_of(content, options)
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
    cpu: dict[str, Any] = {"read": time.process_time() - cpu_started}
    record["notes"] = list(submission.notes)
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
        execution = execute(submission.cells, plans, worker, budget=options.limits.timeout - read_seconds)
        cpu["execute"] = time.process_time() - t
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
    t = time.process_time()
    for q, ex in EXERCISES.items():
        score = score_exercise(ex, plans[q], execution.outcomes[q], execution.exercise_notes.get(q, ""))
        record["exercises"][q] = _exercise_record(score)
    record["score"] = round(sum(e["score"] for e in record["exercises"].values()), 4)
    cpu["checks"] = time.process_time() - t
    # where this submission's CPU went, in ms: the trusted side measured here, the child's as reported
    trusted = {"read": _ms(cpu["read"]), "plans": _ms(cpu["plans"]), "send": _ms(worker.send),
               "frames": _ms(worker.frames), "decode": _ms(cpu["execute"] - worker.send - worker.frames),
               "checks": _ms(cpu["checks"]), "total": _ms(time.process_time() - cpu_started)}
    record["provenance"]["cpu"] = {"trusted": trusted, "child": child_cpu(worker), "plans_cached": hit}
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
