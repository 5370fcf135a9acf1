"""A grading task and what identifies it: its options, the grader's version, its keys.

A task is plain data (the submission's name and bytes, the options as a dict) so that any
executor can carry it: a local pool, Dask, a SLURM array shard. Its key says when a result on
disk can be reused (:func:`task_key`); its Dask key says when two tasks are the same
computation (:func:`grading_key`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from grader import __version__
from grader.rubric.probes import DEFAULT_SEED_POOL, submission_seed
from grader.pipeline.settings import BY_NAME
from grader.sandbox.process import Limits


@lru_cache(maxsize=1)
def grader_version() -> str:
    """The release plus a digest of the grading code, so any change to a check is a new version."""
    digest = hashlib.sha256()
    for package in ("grader", "reference"):
        root = Path(__import__(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"


@dataclass(frozen=True)
class Options:
    """How to grade: plain data, so it can travel with a task to any executor."""

    seed: int | None = BY_NAME["seed"].default
    sandbox: str = BY_NAME["sandbox"].default
    limits: Limits = field(default_factory=Limits)
    image: str = BY_NAME["image"].default
    isolation: str = BY_NAME["isolation"].default
    require_isolation: str | None = BY_NAME["require_isolation"].default
    executor: str = BY_NAME["executor"].default
    fresh_containers: bool = BY_NAME["fresh_containers"].default
    seed_secret: str | None = None  # the instructor's: never written to a result
    seed_pool: int = DEFAULT_SEED_POOL

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Options":
        d = dict(d)
        d["limits"] = Limits(**d.get("limits", {}))
        return cls(**d)


def options_from(values: Mapping[str, Any]) -> Options:
    """The options of a run from the values of its settings (``grader.pipeline.settings``), as the command
    line and the Otter plugin read them: the one place where MiB become bytes, and where a step is held
    to the whole submission's timeout. An empty seed secret is none."""
    timeout = values["timeout"]
    limits = Limits(timeout=timeout, step_timeout=min(values["step_timeout"], timeout),
                    memory_bytes=values["memory_mb"] * 2**20)
    return Options(seed=values["seed"], seed_secret=values["seed_secret"] or None, sandbox=values["sandbox"],
                   limits=limits, image=values["image"], executor=values["executor"],
                   fresh_containers=values["fresh_containers"], isolation=values["isolation"],
                   require_isolation=values["require_isolation"])


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seed_of(content: bytes, options: Options) -> int:
    """The submission's seed under these options (see ``grader.rubric.probes.submission_seed``)."""
    return submission_seed(content, options.seed, options.seed_secret, options.seed_pool)


def seeding(options: Options) -> str:
    """How seeds are chosen, as a result may record it: ``content`` (from each file), ``fixed`` (``--seed``)
    or ``secret:<digest>``, a digest that tells two secrets apart and never gives the secret away."""
    if options.seed is not None:
        return "fixed"
    if options.seed_secret:
        digest = hashlib.sha256(b"activation-grader seed secret\0" + options.seed_secret.encode()).hexdigest()
        return f"secret:{digest[:16]}"
    return "content"


def conditions(options: Options) -> dict:
    """What besides content, grader version and seed can change a score or the trust in it: where the
    code ran (sandbox, requested isolation, image), its limits, and how seeds were chosen. A result graded
    under other conditions is graded again (``grader.pipeline.batch``), and :func:`grader.pipeline.regrade.condition_changes`
    names the difference."""
    limits = options.limits
    return {"sandbox": options.sandbox,
            "isolation": options.isolation if options.sandbox == "process" else "docker",
            "image": options.image if options.sandbox == "docker" else None,
            "timeout": limits.timeout, "step_timeout": limits.step_timeout,
            "memory_mb": limits.memory_bytes // 2**20, "seeding": seeding(options)}


def task_key(content: bytes, options: Options) -> str:
    """What identifies a result: content, grader version, seed and :func:`conditions`."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(content).digest())
    h.update(grader_version().encode())
    h.update(str(seed_of(content, options)).encode())
    h.update(json.dumps(conditions(options), sort_keys=True).encode())
    return h.hexdigest()


def grading_key(task: dict) -> str:
    """The Dask key of a grading task: identical tasks share it, different ones never do.

    The task key (content, grader version, seed, conditions) alone is not enough: the record carries the
    submission's name, a ``.py`` and an ``.ipynb`` with the same bytes are read differently, and
    the sandbox and limits shape the result.
    """
    options = task["options"]
    digest = hashlib.sha256(json.dumps([task["name"], options], sort_keys=True, default=str).encode())
    return f"grade-{task_key(task['content'], Options.from_dict(options))}-{digest.hexdigest()[:12]}"
