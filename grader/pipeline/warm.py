"""The sandbox worker a grading process keeps warm between submissions.

Per process: a pool process, a Dask worker or the command line's own process grades one
submission at a time, and reuses its worker for the next one (its answer keys: ``grader.pipeline.plans``).
This module imports no exercise, so the command line can start a worker (:func:`prestart`)
before it imports the rubric and reads the submission, and the two overlap.
"""
from __future__ import annotations

import os
from typing import Any

from grader.sandbox.docker import DockerWorker
from grader.sandbox.process import Zygote
from grader.pipeline.tasks import Options

# -- workers are per process and reused: a zygote is warm after its first submission --------------
_workers: dict[tuple, Any] = {}


def get_worker(options: Options):
    """This process's worker for ``options``, started (or waited for, after :func:`prestart`)."""
    key = _key(options)
    worker = _workers.get(key)
    if worker is None:
        slot = os.getpid() % 4000
        if options.sandbox == "docker":
            worker = DockerWorker(slot, options.limits, options.image, fresh=options.fresh_containers)
        else:
            worker = Zygote(slot, options.limits, options.isolation)
            worker.start()
        _workers[key] = worker
    elif isinstance(worker, Zygote) and worker.launched and not worker.info:
        try:
            worker.wait_ready()
        except BaseException:
            del _workers[key]
            worker.close()
            raise
    return worker


def prestart(options: Options) -> None:
    """Launch this process's process-sandbox worker without waiting for it: its interpreter imports
    numpy, scipy and matplotlib while this one imports the rubric and reads the submission.
    :func:`get_worker` then waits for it. Nothing for the Docker sandbox, whose containers start
    on first use."""
    key = _key(options)
    if options.sandbox == "process" and key not in _workers:
        worker = Zygote(os.getpid() % 4000, options.limits, options.isolation)
        worker.launch()
        _workers[key] = worker


def _key(options: Options) -> tuple:
    return (options.sandbox, options.limits, options.image, options.isolation, options.fresh_containers)


def close_workers() -> None:
    for worker in _workers.values():
        worker.close()
    _workers.clear()
