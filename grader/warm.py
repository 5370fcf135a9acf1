"""What a grading process keeps warm between submissions: its sandbox worker, and the plans
(answer keys) of seeds that come back.

Both are per process: a pool process, a Dask worker or the command line's own process grades
one submission at a time, and reuses them for the next one.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np

from grader.docker_sandbox import DockerWorker
from grader.exercises import EXERCISES
from grader.sandbox import Zygote
from grader.tasks import Options

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
