"""Probe plans: the calls to make on a submission, as plain data.

A plan is built in the trusted process from a seed. Its calls (function name,
arguments) cross to the untrusted worker as plain data; its ``expected`` values
(the answer keys) never leave the trusted process.

Seed policy: by default the seed of a submission is derived from the SHA-256 of
its content, so the same file always meets the same inputs and two different
files meet different ones; ``--seed N`` gives every submission the same inputs.
Each exercise draws from its own stream, ``default_rng([seed, exercise number])``,
so adding a probe to one exercise never changes another's inputs.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

#: Fixed edge cases of the contract: zero, moderate and huge magnitudes.
EDGE_VALUES = np.array(
    [0.0, 1e-12, -1e-12, 1.0, -1.0, 3.0, -3.0, 50.0, -50.0, 700.0, -700.0, 1000.0, -1000.0]
)


@dataclass(frozen=True)
class Rng:
    """A ``numpy.random.Generator`` described by its seed (it crosses as a number)."""

    seed: int


@dataclass(frozen=True)
class Call:
    """One call of a student function: ``func(*args, **kwargs)``.

    ``label`` says in words what the input is, for feedback
    ("x of shape (4, 5), standard normal").
    """

    id: str
    func: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def signature(self) -> str:
        """How the call reads in feedback: ``softmax(z, axis=0)``."""
        names = [_arg_name(a, i) for i, a in enumerate(self.args)]
        names += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.func}({', '.join(names)})"

    def describe(self) -> str:
        text = self.signature()
        return f"{text} with {self.label}" if self.label else text


def _arg_name(value: Any, i: int) -> str:
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>" if value.size > 6 else np.array2string(value, separator=", ")
    if isinstance(value, Rng):
        return f"default_rng({value.seed})"
    if isinstance(value, (list, tuple)):
        return f"<list of {len(value)}>"
    return repr(value)


@dataclass
class Plan:
    """The calls for one exercise and, trusted side only, their answer keys."""

    exercise: str
    seed: int
    calls: list[Call]
    expected: dict[str, Any] = field(default_factory=dict)

    def call(self, call_id: str) -> Call:
        for c in self.calls:
            if c.id == call_id:
                return c
        raise KeyError(call_id)


def submission_seed(content: bytes, seed: int | None = None) -> int:
    """The seed a submission is graded with (see the module docstring)."""
    if seed is not None:
        return int(seed)
    return int.from_bytes(hashlib.sha256(content).digest()[:4], "little")


def exercise_rng(seed: int, exercise: str) -> np.random.Generator:
    """An independent stream per exercise: ``default_rng([seed, n])`` for ``qn``."""
    return np.random.default_rng([int(seed), int(exercise.lstrip("q"))])


def shapes_of_every_rank(rng: np.random.Generator) -> list[tuple[int, ...]]:
    """A 0-d, a 1-d, a 2-d and a 3-d shape with random small sizes."""
    return [(), (int(rng.integers(3, 9)),), tuple(int(n) for n in rng.integers(2, 6, 2)),
            tuple(int(n) for n in rng.integers(2, 5, 3))]
