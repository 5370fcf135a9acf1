"""What an exercise is: its id, title, points, the names a student defines, a plan and a rubric.

It lives apart from the registry (``grader.rubric.exercises``) so that the exercise modules, which
the registry loads, and the scoring, which needs only the type, import it without loading
every exercise (and autograd) first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from grader.rubric.runner import Criterion
from grader.rubric.probes import Plan


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    points: int
    names: tuple[str, ...]
    plan: Callable[[int], Plan]
    criteria: tuple[Criterion, ...]

    @property
    def number(self) -> int:
        return int(self.id.lstrip("q"))
