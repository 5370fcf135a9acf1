"""The exercises of the contract, each a plan builder and a rubric.

An exercise module defines ``EXERCISE``: its id, title, points, the names a
student defines, ``plan(seed)`` (calls plus trusted answer keys) and
``criteria`` (sub-checks whose points sum to the exercise's points).

The registry is every module of this package named ``qNN_<topic>`` (``q07_initialisation``
holds q7), so a new exercise is registered by its file alone; the shared helpers have
other names. A module whose number and ``EXERCISE.id`` disagree is refused at import.
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from grader.core.errors import GraderError
from grader.rubric.exercise import Exercise

_MODULE_NAME = re.compile(r"q(\d{2})_\w+")


def module_names() -> list[str]:
    """The exercise modules of this package, in the order of their numbers."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if _MODULE_NAME.fullmatch(m.name)]
    return sorted(names)


def _load() -> dict[str, Exercise]:
    out: dict[str, Exercise] = {}
    for name in module_names():
        ex = importlib.import_module(f"{__name__}.{name}").EXERCISE
        number = int(_MODULE_NAME.fullmatch(name).group(1))
        if ex.id != f"q{number}" or ex.id in out:
            raise GraderError(f"grader/rubric/exercises/{name}.py defines {ex.id!r}; a module named qNN_... defines "
                              f"q{number}, once")
        out[ex.id] = ex
    return out


EXERCISES: dict[str, Exercise] = _load()
TOTAL_POINTS = sum(ex.points for ex in EXERCISES.values())
