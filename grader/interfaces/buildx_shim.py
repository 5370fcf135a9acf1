"""A stand-in for ``docker buildx`` so that ``otter grade`` runs on a Docker without it.

Otter-Grader builds its grading image through python_on_whales, which calls ``docker buildx
build``. Debian's ``docker.io`` (and other engines packaged without the buildx plugin) only
has the classic builder, and ``otter grade`` ends in ``docker: unknown command: docker
buildx``. The project ships ``grader/docker-buildx``, a Docker CLI plugin that answers the few
buildx calls Otter makes with the classic builder (``DOCKER_BUILDKIT=0 docker build``) and
refuses anything else. :func:`install` copies it where the docker CLI looks for a user's
plugins, ``$DOCKER_CONFIG/cli-plugins`` (``~/.docker/cli-plugins`` by default), as the
``activation-grader docker install-buildx-shim`` command does.

It never replaces a real buildx: where ``docker buildx version`` already works it installs
nothing, and a ``docker-buildx`` file that is not this one is left alone (an error says so).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from grader.core.errors import GraderError

PLUGIN = "docker-buildx"
#: A line of the shipped script: how an installed file is recognised as ours.
MARK = '"Vendor": "activation-grader"'


class ShimError(GraderError):
    """The stand-in cannot be installed or removed (the message says why and what to do)."""


@dataclass(frozen=True)
class Installed:
    path: Path | None   # where the stand-in now is (None: nothing installed)
    message: str        # what happened, for the instructor


def shim_source() -> bytes:
    """The shipped plugin script."""
    return (files("grader.interfaces") / PLUGIN).read_bytes()


def plugin_dir(environ: dict[str, str] | None = None) -> Path:
    """Where the docker CLI looks for this user's plugins: ``$DOCKER_CONFIG/cli-plugins``."""
    environ = os.environ if environ is None else environ
    config = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(config) / "cli-plugins"


def is_ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def buildx_version(environ: dict[str, str] | None = None) -> str | None:
    """The ``docker buildx version`` line, or None where the CLI has no buildx (or no docker CLI)."""
    if shutil.which("docker") is None:
        return None
    env = dict(os.environ if environ is None else environ)
    try:
        proc = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or "buildx") if proc.returncode == 0 else None


def install(directory: Path | None = None, environ: dict[str, str] | None = None) -> Installed:
    """Install the stand-in unless the docker CLI already has a buildx (see the module docstring)."""
    if shutil.which("docker") is None:
        raise ShimError("no docker command on PATH: install Docker first (e.g. `apt-get install docker.io`)")
    target = (directory or plugin_dir(environ)) / PLUGIN
    source = shim_source()
    if target.exists() and is_ours(target):
        if target.read_bytes() != source:
            _write(target, source)
            return Installed(target, f"updated the buildx stand-in at {target}")
        return Installed(target, f"the buildx stand-in is already installed at {target}")
    version = buildx_version(environ)
    if version is not None:
        return Installed(None, f"docker buildx is already available ({version}): nothing to install")
    if target.exists() or target.is_symlink():
        raise ShimError(f"{target} exists and is not this project's stand-in, yet `docker buildx version` fails: "
                        "repair or remove that plugin yourself; it was left alone")
    _write(target, source)
    version = buildx_version(environ)
    if directory is None and version is None:
        raise ShimError(f"installed {target}, but `docker buildx version` still fails: does this docker CLI "
                        "read its plugins from there (DOCKER_CONFIG)?")
    return Installed(target, f"installed the buildx stand-in (classic docker build) at {target}")


def remove(directory: Path | None = None, environ: dict[str, str] | None = None) -> Installed:
    """Remove the stand-in from the plugin directory; a ``docker-buildx`` that is not ours stays."""
    target = (directory or plugin_dir(environ)) / PLUGIN
    if not target.exists():
        return Installed(None, f"no buildx stand-in at {target}: nothing to remove")
    if not is_ours(target):
        raise ShimError(f"{target} is not this project's stand-in (a real buildx?): left alone")
    target.unlink()
    return Installed(None, f"removed {target}")


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{PLUGIN}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, target)
