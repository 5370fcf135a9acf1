"""The click options of ``activation-grader grade``, built from the schema of settings.

Each setting of ``grader.pipeline.settings`` that has command-line flags becomes one click option
(help text, default, type and limits, metavar, environment variable, all from its entry), so the
command line, the Otter plugin and the docs' options table (``grader.interfaces.cli_docs``, which
reads the click options) cannot drift apart.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from grader.pipeline.settings import Setting, Values, cli_settings


def settings_options(callbacks: dict[str, Callable] | None = None) -> Callable[[Callable], Callable]:
    """The command's click options, one per setting of ``grader.pipeline.settings`` that has flags, in the
    schema's order; the command receives them as one :class:`Values` (``settings``) instead of one
    parameter each. ``callbacks`` adds click callbacks that parse a value further (``--shard``)."""
    callbacks = callbacks or {}

    def decorate(command: Callable) -> Callable:
        names = [s.name for s in cli_settings()]

        @functools.wraps(command)
        def run(*args, **kwargs):
            values = Values({name: kwargs.pop(name) for name in names})
            return command(*args, settings=values, **kwargs)

        for setting in reversed(cli_settings()):  # click shows the options in the reverse order of decoration
            run = click.option(*setting.flags, setting.name, **click_arguments(setting, callbacks))(run)
        return run
    return decorate


def click_arguments(setting: Setting, callbacks: dict[str, Callable]) -> dict[str, Any]:
    """The keyword arguments of ``click.option`` that say what ``setting`` says."""
    kwargs: dict[str, Any] = {"help": setting.help}
    if setting.kind is bool:
        kwargs["is_flag"] = True
    elif setting.required:
        kwargs["required"] = True
    else:
        kwargs["default"] = setting.default
    if setting.choices is not None:
        kwargs["type"] = click.Choice(list(setting.choices))
    elif setting.kind is Path:
        kwargs["type"] = click.Path(file_okay=False, path_type=Path)
    elif setting.kind is float and setting.minimum is not None:
        kwargs["type"] = click.FloatRange(setting.minimum)
    elif setting.kind is float:
        kwargs["type"] = float
    elif setting.kind is int:
        kwargs["type"] = int if setting.minimum is None else click.IntRange(int(setting.minimum))
    if setting.metavar:
        kwargs["metavar"] = setting.metavar
    if setting.envvar:
        kwargs.update(envvar=setting.envvar, show_envvar=True)
    if setting.show_default:
        kwargs["show_default"] = True
    if setting.name in callbacks:
        kwargs["callback"] = callbacks[setting.name]
    return kwargs
