"""Where one submission's time and CPU went: the one mechanism around the steps of its grading.

``grader.pipeline.grading`` runs each step (read, plan, execute, score) inside
``steps.timed(name)``; the worker is seen through :class:`TimedWorker`, which splits the execute
step's CPU into sending the job and reading frames. :meth:`Stopwatch.spent` then gives the
figures a record keeps in ``provenance.cpu`` (in ms: the trusted side's, measured here, and the
sandbox's own account, as reported): informational, shown and never used to decide anything.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _reported_ms(value: Any) -> float | None:
    """A figure the sandbox reported, in ms, if it is a plausible number of seconds."""
    if type(value) in (int, float) and 0 <= value < 1e6:
        return round(value * 1000, 2)
    return None


class TimedWorker:
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


def child_cpu(timed: TimedWorker) -> dict:
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


class Stopwatch:
    """Wall time and CPU of one submission's grading from its start, and the wall time and CPU of each step
    (``wall``, ``cpu``: seconds by step name)."""

    def __init__(self) -> None:
        self.started, self.cpu_started = time.monotonic(), time.process_time()
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Count the wall time and CPU spent inside the block as ``step``'s."""
        wall, cpu = time.monotonic(), time.process_time()
        try:
            yield
        finally:
            self.cpu[step] = time.process_time() - cpu
            self.wall[step] = time.monotonic() - wall

    def elapsed(self) -> float:
        """Wall seconds since the start."""
        return time.monotonic() - self.started

    def seconds(self) -> float:
        """Wall seconds since the start, as the record keeps them (``provenance.seconds``)."""
        return round(self.elapsed(), 3)

    def spent(self, worker: TimedWorker, plans_cached: bool) -> dict:
        """Where the submission's CPU went, in ms (``provenance.cpu``): the trusted side's steps as measured
        here (``decode``: the execute step's CPU other than sending the job and reading its frames), the
        child's as reported, and whether the plans came from the cache."""
        execute = self.cpu["execute"]
        trusted = {"read": _ms(self.cpu["read"]), "plans": _ms(self.cpu["plans"]), "send": _ms(worker.send),
                   "frames": _ms(worker.frames), "decode": _ms(execute - worker.send - worker.frames),
                   "checks": _ms(self.cpu["checks"]), "total": _ms(time.process_time() - self.cpu_started)}
        return {"trusted": trusted, "child": child_cpu(worker), "plans_cached": plans_cached}
