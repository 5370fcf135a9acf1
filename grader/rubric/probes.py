"""Probe plans: the calls to make on a submission, as plain data.

A plan is built in the trusted process from a seed. Its calls (function name,
arguments) cross to the untrusted worker as plain data; its ``expected`` values
(the answer keys) never leave the trusted process.

Seed policy: by default the seed of a submission is derived from the SHA-256 of
its content, so the same file always meets the same inputs and two different
files meet different ones; ``--seed N`` gives every submission the same inputs.
With an instructor's secret (``--seed-secret`` or ``ACTIVATION_GRADER_SEED_SECRET``)
the seed is one of a pool of ``pool`` seeds, picked by HMAC-SHA256 of the content
under the secret, and the pool's seeds are themselves derived from the secret: a
student cannot compute them from the public code, two students still (mostly) meet
different inputs, and the grader builds each of the pool's answer keys once per
process instead of once per submission.
Each exercise draws from its own stream, ``default_rng([seed, exercise number])``,
so adding a probe to one exercise never changes another's inputs.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

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
    ("x of shape (4, 5), standard normal"). ``tag`` is the input class the rubric
    selects calls by ("0d", "large", "axis0", "bad", ...; see :meth:`Plan.select`),
    set where the plan is built: ``id`` names one call and is never taken apart.
    """

    id: str
    func: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    tag: str = ""

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
    #: What the rubric derives from the plan alone (a gate's groups), kept with it: a plan cached for
    #: a seed of the pool is graded many times, and what it derives is the same every time.
    derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def call(self, call_id: str) -> Call:
        for c in self.calls:
            if c.id == call_id:
                return c
        raise KeyError(call_id)

    def select(self, func: str | Iterable[str] | None = None, tags: str | Iterable[str] | None = None,
               with_kwargs: bool | None = None) -> list[Call]:
        """The calls of ``func`` (one name or several) whose tag is one of ``tags``, in the plan's order.

        ``with_kwargs``: only the calls that pass keyword arguments (True) or pass none (False).
        None, for any of the three, selects everything. This is the one way the rubric picks calls.
        """
        funcs = None if func is None else {func} if isinstance(func, str) else set(func)
        wanted = None if tags is None else {tags} if isinstance(tags, str) else set(tags)
        return [c for c in self.calls if (funcs is None or c.func in funcs) and (wanted is None or c.tag in wanted)
                and (with_kwargs is None or bool(c.kwargs) == with_kwargs)]


#: The environment variable that holds the instructor's seed secret (``--seed-secret``).
SEED_SECRET_ENV = "ACTIVATION_GRADER_SEED_SECRET"
#: How many seeds a secret's pool holds: the chance that two students meet the same inputs is 1/32,
#: and a process builds at most 32 sets of answer keys however many submissions it grades.
DEFAULT_SEED_POOL = 32


def submission_seed(content: bytes, seed: int | None = None, secret: str | bytes | None = None,
                    pool: int = DEFAULT_SEED_POOL) -> int:
    """The seed a submission is graded with (see the module docstring): ``seed`` if given, else
    one of ``pool`` seeds chosen by the keyed hash of ``content`` under ``secret``, else the
    content's own hash."""
    if seed is not None:
        return int(seed)
    if secret:
        if pool < 1:
            raise ValueError(f"the seed pool needs at least one seed, not {pool}")
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        index = int.from_bytes(hmac.new(key, content, hashlib.sha256).digest()[:8], "little") % pool
        return pool_seed(key, index)
    return int.from_bytes(hashlib.sha256(content).digest()[:4], "little")


def pool_seed(secret: str | bytes, index: int) -> int:
    """The ``index``-th seed of the secret's pool: HMAC-SHA256 under the secret, so the pool
    cannot be listed without the secret either."""
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    mac = hmac.new(key, b"activation-grader seed pool %d" % index, hashlib.sha256).digest()
    return int.from_bytes(mac[:4], "little")


def exercise_rng(seed: int, exercise: str) -> np.random.Generator:
    """An independent stream per exercise: ``default_rng([seed, n])`` for ``qn``."""
    return np.random.default_rng([int(seed), int(exercise.lstrip("q"))])


def shapes_of_every_rank(rng: np.random.Generator) -> list[tuple[int, ...]]:
    """A 0-d, a 1-d, a 2-d and a 3-d shape with random small sizes."""
    return [(), (int(rng.integers(3, 9)),), tuple(int(n) for n in rng.integers(2, 6, 2)),
            tuple(int(n) for n in rng.integers(2, 5, 3))]
