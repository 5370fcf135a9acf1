"""The ten exercises of the contract, each a plan builder and a rubric.

An exercise module defines ``EXERCISE``: its id, title, points, the names a
student defines, ``plan(seed)`` (calls plus trusted answer keys) and
``criteria`` (sub-checks whose points sum to the exercise's points).
"""
from __future__ import annotations

import importlib

from grader.exercise import Exercise


_MODULES = ["q01_saturating", "q02_relu_family", "q03_affine", "q04_softmax", "q05_softmax_jacobian",
            "q06_glu", "q07_initialisation", "q08_dead_relu", "q09_prelu", "q10_deep_gradients"]


def _load() -> dict[str, Exercise]:
    out: dict[str, Exercise] = {}
    for name in _MODULES:
        ex = importlib.import_module(f"grader.exercises.{name}").EXERCISE
        out[ex.id] = ex
    return dict(sorted(out.items(), key=lambda kv: kv[1].number))


EXERCISES: dict[str, Exercise] = _load()
TOTAL_POINTS = sum(ex.points for ex in EXERCISES.values())
