"""Executors: where grading tasks run. The seam for every backend.

Anything with ``submit(fn, *args) -> future`` and ``shutdown()`` whose futures
work with :func:`as_completed` will do. The local pool needs nothing
installed; ``dask_executor`` sends the same tasks to a Dask cluster.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os


def _init_worker() -> None:
    # every pool process keeps its own warm sandbox worker, closed at exit
    import atexit

    from grader.grading import close_workers

    atexit.register(close_workers)


class LocalExecutor(cf.ProcessPoolExecutor):
    """A process pool: trusted grading runs in parallel, free of the GIL.

    Processes come from a fork server that has imported the grader once, so a
    pool starts quickly and nothing of the parent's threads is inherited.
    """

    def __init__(self, jobs: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["grader.grading", "grader.exercises", "reference.keys"])
        super().__init__(max_workers=jobs, mp_context=ctx, initializer=_init_worker)


def as_completed(futures):
    """Futures as they finish, for local and Dask futures alike."""
    futures = list(futures)
    if futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(futures)
    return cf.as_completed(futures)


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class InlineExecutor(cf.Executor):
    """Runs each task in this process when it is submitted: for one notebook, no pool to start."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        from grader.grading import close_workers

        close_workers()
