"""The worker's configuration: one schema that the trusted side writes and the worker reads.

One of the parts shipped as the worker program (order: ``SHIPPED`` in ``grader/sandbox/process.py``):
it imports only the standard library, because the worker runs under ``python -I`` in the grading
image and on hosts, with nothing installed for it. The trusted side builds a :class:`WorkerConfig`
in one place for every sandbox (``grader.sandbox.process.worker_config``), sends it as the first
frame on the worker's stdin (:meth:`WorkerConfig.to_json`, never on a command line, which every
process can read in ``/proc``), and the worker reads it back (:meth:`WorkerConfig.from_json`) and
uses its fields by name. Both ends validate: a missing or unknown key, or a value of the wrong
type, is refused with the field's name, so a configuration the two sides do not agree on never
starts a worker.

To add a field: declare it here with its type (one of :data:`KINDS`), a default where there is a
sensible one, and a comment saying what it is for; set it in ``worker_config``; read it in the
worker as ``config.<field>``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

#: The isolation modes a worker can be asked for (``grader.sandbox.isolation`` chooses one).
MODES = ("root", "userns", "uid", "landlock", "none")
#: What the zygote imports once, before it isolates itself, so that no job pays for it.
PRELOAD = ("numpy", "scipy", "matplotlib", "matplotlib.pyplot")


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker is told about its isolation and its jobs' limits (sizes in bytes)."""

    # -- the isolation --------------------------------------------------------------------------------
    #: The isolation mode, one of :data:`MODES`; ``grader.sandbox.worker.isolate.isolate`` applies it.
    mode: str
    #: The uid that student code runs as in ``root`` and ``uid`` mode (a uid of its own, claimed by
    #: the trusted side; also the sandbox user of a new root's ``/etc/passwd``).
    uid: int
    #: The gid that goes with it (the trusted side gives the uid's number).
    gid: int
    #: The directory under which each job of the ``uid``, ``landlock`` and ``none`` modes gets its
    #: own directory ``job-PID`` (its HOME and TMPDIR, emptied and removed after it).
    scratch_base: str
    # -- each job's limits ------------------------------------------------------------------------------
    #: ``RLIMIT_AS`` of the job's processes (each of them).
    memory_bytes: int
    #: ``RLIMIT_CPU`` of the job's processes, in seconds.
    cpu_seconds: int
    #: ``RLIMIT_FSIZE``: the largest file a job may write.
    file_bytes: int
    #: The size of each tmpfs a namespaced job gets (``/tmp``, ``/var/tmp``, ``/dev/shm``).
    tmpfs_bytes: int
    #: ``RLIMIT_NPROC`` of the job's uid.
    nproc: int
    #: The disk budget of a job's directory, measured while it runs, in the modes without a tmpfs
    #: of the job's own (``uid``, ``landlock``, ``none``); 0: not measured (a filesystem of a fixed
    #: size holds it, as the Docker sandbox's tmpfs ``/scratch``).
    disk_bytes: int = 0
    #: The most files and directories a job may have: the ``nr_inodes`` of a namespaced job's
    #: tmpfs, the budget of a measured directory.
    disk_entries: int = 20000
    # -- what the job may see ---------------------------------------------------------------------------
    #: ``root`` and ``userns``: the empty directory where the zygote builds its new root filesystem.
    new_root: str = ""
    #: ``root`` and ``userns``: what is bound read-only into the new root (system directories, the runtime).
    allow: tuple[str, ...] = ()
    #: ``root`` and ``userns``: what is masked inside the new root (the grader and the reference).
    hide: tuple[str, ...] = ()
    #: ``root`` and ``userns``: the files of the host's ``/etc`` bound into the new root.
    etc: tuple[str, ...] = ()
    #: With Landlock: what the job may read, everything beneath each path.
    read: tuple[str, ...] = ()
    #: With Landlock: directories the job may list but not read beneath (they hold something hidden).
    listable: tuple[str, ...] = ()
    #: The modules the zygote imports before it isolates itself.
    preload: tuple[str, ...] = PRELOAD

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == STRINGS and type(value) is list:  # (JSON has no tuples)
                value = tuple(value)
                object.__setattr__(self, field.name, value)
            check = KINDS.get(field.type)
            if check is None:
                raise TypeError(f"{type(self).__name__}.{field.name}: the schema has no kind {field.type!r} "
                                "(see KINDS)")
            if not check(value):
                raise ConfigError(f"worker configuration: {field.name} must be {field.type}, "
                                  f"not {type(value).__name__} {value!r:.80}")
        if self.mode not in MODES:
            raise ConfigError(f"worker configuration: mode must be one of {', '.join(MODES)}, not {self.mode!r:.80}")

    def to_json(self) -> str:
        """The configuration as one JSON object, a key per field (what :meth:`from_json` reads)."""
        return json.dumps({field.name: getattr(self, field.name) for field in dataclasses.fields(self)})

    @classmethod
    def from_json(cls, text: str | bytes) -> "WorkerConfig":
        """Read what :meth:`to_json` wrote; :class:`ConfigError` names a key that is unknown or
        missing, or a value of the wrong type. A field that has a default may be left out."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"worker configuration: not JSON ({exc})") from None
        if type(data) is not dict:
            raise ConfigError(f"worker configuration: a JSON object expected, not {type(data).__name__}")
        fields = dataclasses.fields(cls)
        unknown = sorted(set(data) - {field.name for field in fields})
        if unknown:
            raise ConfigError(f"worker configuration: unknown key {unknown[0]!r:.80}")
        for field in fields:
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if required and field.name not in data:
                raise ConfigError(f"worker configuration: {field.name} is missing")
        return cls(**data)


class ConfigError(ValueError):
    """A worker configuration that does not follow the schema (see :class:`WorkerConfig`)."""


#: The types a field may have (as written in its annotation), each with its check. ``bool`` is
#: never taken for ``int``; JSON's lists become the tuples of ``tuple[str, ...]``.
STRINGS = "tuple[str, ...]"
KINDS = {
    "int": lambda value: type(value) is int,
    "str": lambda value: type(value) is str,
    "bool": lambda value: type(value) is bool,
    STRINGS: lambda value: type(value) is tuple and all(type(item) is str for item in value),
}
