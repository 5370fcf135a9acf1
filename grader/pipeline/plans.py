"""The plans (answer keys) a grading process keeps for seeds that come back.

Per process, like the warm sandbox worker (``grader.pipeline.warm``): a seed from a pool (``--seed-secret``)
or a fixed ``--seed`` comes back, and its answer keys need not be built again.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from grader.rubric.exercises import EXERCISES


def build_plans(seed: int) -> dict:
    """Every exercise's plan; overflow in the answer keys' tails is expected and harmless."""
    with np.errstate(all="ignore"):
        return {q: ex.plan(seed) for q, ex in EXERCISES.items()}


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
