"""The options of a grading run, declared once: name, type, default, unit, limits, help text.

Two front doors take them: ``activation-grader grade`` (``grader.interfaces.cli`` builds its click
options from :data:`SETTINGS`) and the Otter plugin (its config keys under ``plugins:`` in
``otter_config.json`` are read and checked here, by :func:`plugin_values`). Both then hand what they
read to ``grader.pipeline.tasks.options_from``, the one place where the values become the
:class:`~grader.pipeline.tasks.Options` that travel with each task (MiB to bytes, a step no longer
than the whole). A setting is offered where it says: on the command line (``flags``), as a plugin key
(``plugin``), or both; the name is the plugin key and the attribute the command reads.

This module is plain data and imports nothing of the grading, so ``activation-grader --help`` stays
light (no NumPy, no autograd). Adding an option: docs/development.md, "Adding an option".
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.core.errors import GraderError

#: The environment variable that holds the instructor's seed secret (``grader.rubric.probes`` reads the
#: same name; it is spelt here too so that this module imports nothing of the rubric).
SEED_SECRET_ENV = "ACTIVATION_GRADER_SEED_SECRET"
ISOLATIONS = ("auto", "root", "userns", "uid", "landlock", "none")
REQUIRED_ISOLATIONS = ("none", "landlock", "userns", "uid", "root")


class SettingError(GraderError):
    """A value or a key of the plugin's config that the schema refuses; ``message`` names it and what is valid."""


@dataclass(frozen=True)
class Setting:
    """One option. ``kind`` is ``bool`` (a flag, off by default), ``int``, ``float``, ``str`` or
    ``Path`` (a directory); ``minimum`` and ``choices`` are its validation, ``unit`` says what a number
    counts. ``flags`` are its command-line names (none: not on the command line); ``plugin`` makes it a
    key of the Otter plugin's config; ``envvar`` is read where neither gives a value."""

    name: str
    kind: type
    default: Any
    help: str
    flags: tuple[str, ...] = ()
    plugin: bool = False
    unit: str | None = None
    metavar: str | None = None
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    envvar: str | None = None
    required: bool = False
    show_default: bool = False

    def __post_init__(self) -> None:
        if not " ".join(self.help.split()):
            raise ValueError(f"the setting {self.name!r} has no help text: say what it does (it is shown by "
                             f"--help and in the docs' options table)")
        if not self.flags and not self.plugin:
            raise ValueError(f"the setting {self.name!r} is offered nowhere: give it flags, plugin=True or both")
        if self.choices is not None and self.default is not None and self.default not in self.choices:
            raise ValueError(f"the default of {self.name!r} ({self.default!r}) is not one of {self.choices}")

    def read(self, value: Any) -> Any:
        """``value`` (from the plugin's config: YAML or JSON) as this setting's type, checked; None is the
        default. Numbers and names are converted as the plugin always did (``"30"`` is 30 seconds)."""
        if value is None:
            return self.default
        if self.kind is bool:
            return bool(value)
        try:
            converted = self.kind(value)
        except (TypeError, ValueError):
            raise SettingError(f"{self.name} must be {self._what()}, not {value!r}") from None
        if isinstance(converted, float) and not math.isfinite(converted):
            raise SettingError(f"{self.name} must be {self._what()}, not {value!r}")
        if self.minimum is not None and converted < self.minimum:
            raise SettingError(f"{self.name} must be {self._what()}, not {value!r}")
        if self.choices is not None and converted not in self.choices:
            raise SettingError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        return converted

    def _what(self) -> str:
        kind = {int: "a whole number", float: "a number"}.get(self.kind, "text")
        unit = f" of {self.unit}" if self.unit else ""
        least = f" (at least {self.minimum:g})" if self.minimum is not None else ""
        return f"{kind}{unit}{least}"


SETTINGS: tuple[Setting, ...] = (
    Setting("out_dir", Path, None, "Output directory: final_grades.csv, results/, feedback/, report.html.",
            flags=("--out",), metavar="DIR", required=True),
    Setting("jobs", int, None, "Submissions graded at once [cores].", flags=("--jobs", "-j"), metavar="N",
            minimum=1),
    Setting("sandbox", str, "process", "Where student code runs: an isolated process on this host, or a container.",
            flags=("--sandbox",), plugin=True, choices=("process", "docker"), show_default=True),
    Setting("timeout", float, 60.0, "Wall-clock seconds one submission may run in total.",
            flags=("--timeout",), plugin=True, unit="seconds", metavar="SECONDS", minimum=1, show_default=True),
    Setting("step_timeout", float, 10.0, "Seconds for one cell, or for all the calls of one exercise.",
            flags=("--step-timeout",), plugin=True, unit="seconds", metavar="SECONDS", minimum=0.5,
            show_default=True),
    Setting("memory_mb", int, 2048, "Memory limit of the student's process, in MiB.",
            flags=("--memory",), plugin=True, unit="MiB", metavar="MIB", minimum=128, show_default=True),
    Setting("seed", int, None, "Same random inputs for every submission (default: derived from each file's content).",
            flags=("--seed",), plugin=True, metavar="N"),
    Setting("seed_secret", str, None, "Instructor's secret: each submission's seed is drawn from a pool of seeds by a "
                                      "keyed hash of its content, unpredictable without it, and answer keys are reused "
                                      "(prefer the environment variable: a command line is visible to other users).",
            flags=("--seed-secret",), plugin=True, metavar="TEXT", envvar=SEED_SECRET_ENV),
    Setting("regrade", bool, False, "Grade again even where a result with the same key exists.", flags=("--regrade",)),
    Setting("shard", str, None, "Grade only shard I of N (SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX with "
                                "ACTIVATION_GRADER_SHARDS=N also work).", flags=("--shard",), metavar="I/N"),
    Setting("executor", str, "local", "Where the grading tasks run: a pool of processes on this host, or a Dask "
                                      "cluster (--scheduler).",
            flags=("--executor",), choices=("local", "dask"), show_default=True),
    Setting("scheduler", str, None, "Dask scheduler address or scheduler file (default: DASK_SCHEDULER_ADDRESS).",
            flags=("--scheduler",), metavar="ADDRESS"),
    Setting("image", str, "activation-grader:latest", "Image for --sandbox docker.", flags=("--image",),
            metavar="IMAGE", show_default=True),
    Setting("fresh_containers", bool, False, "With --sandbox docker: a new container for every submission (slower) "
                                             "instead of warm ones.", flags=("--fresh-containers",)),
    Setting("isolation", str, "auto", "How the process sandbox isolates student code (see docs/sandboxes.md).",
            flags=("--isolation",), plugin=True, choices=ISOLATIONS, show_default=True),
    Setting("require_isolation", str, None, "Refuse to grade where the sandbox cannot give at least this isolation.",
            flags=("--require-isolation",), plugin=True, choices=REQUIRED_ISOLATIONS),
    Setting("no_report", bool, False, "Write the grades only: no class report (report.html, summary.csv) and no "
                                      "similarity.csv.", flags=("--no-report",)),
    Setting("quiet", bool, False, "No progress bar or table.", flags=("--quiet", "-q")),
    Setting("execute_in_otter", bool, False, "Let Otter also run the student's notebook in its kernel, for its "
                                             "outputs only (the scores are still the engine's): only for trusted "
                                             "submissions, as it reopens the unpickling hole (docs/otter.md).",
            plugin=True),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def cli_settings() -> tuple[Setting, ...]:
    """The settings on the command line of ``activation-grader grade``, in the order ``--help`` shows them."""
    return tuple(s for s in SETTINGS if s.flags)


def plugin_keys() -> tuple[str, ...]:
    """The keys the Otter plugin's config may have, sorted."""
    return tuple(sorted(s.name for s in SETTINGS if s.plugin))


class Values(Mapping[str, Any]):
    """The value of every setting, by name (``values["timeout"]``) or attribute (``values.timeout``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        unknown = set(values) - set(BY_NAME)
        if unknown:
            raise KeyError(f"not settings: {sorted(unknown)}")
        self._values = {s.name: values.get(s.name, s.default) for s in SETTINGS}

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = {k: ("***" if k == "seed_secret" and v else v) for k, v in self._values.items()}
        return f"Values({shown})"


def plugin_value(config: Mapping[str, Any], name: str) -> Any:
    """One key of the plugin's config, read and checked (its default where absent or null)."""
    setting = BY_NAME[name]
    value = config.get(name)
    if value is None and setting.envvar:
        value = os.environ.get(setting.envvar)
    return setting.read(value)


def plugin_values(config: Mapping[str, Any]) -> Values:
    """The plugin's config (under ``plugins:`` in ``otter_config.json``) as :class:`Values`: each key read
    and checked by its setting, the settings the plugin does not offer at their defaults. A key that is
    no setting of the plugin is a :class:`SettingError` that names it and the valid keys (a misspelt
    ``step_timout`` would otherwise be ignored, and the grading silently use the default)."""
    keys = plugin_keys()
    unknown = sorted(str(k) for k in config if k not in keys)
    if unknown:
        raise SettingError(f"the plugin's config has no key {', '.join(repr(k) for k in unknown)}: "
                           f"its keys are {', '.join(keys)}")
    return Values({name: plugin_value(config, name) for name in keys})
