"""Building and finding the grading image (``activation-grader image build``).

The image build itself lives in shell scripts under ``docker/`` so that CI and
fresh grading hosts can run it before any Python environment exists
(``docker/ci-setup.sh``). This module only drives those scripts for the CLI
and the tests, and asks the Docker engine through the SDK whether an image is
already there, so nothing here parses ``docker`` command output.

Two ways to build:

* online: ``docker build`` from ``python:3.11-slim-bookworm`` with pip reaching
  PyPI, for machines with normal Docker Hub access;
* offline: a Debian base made locally with debootstrap plus wheels downloaded
  on the host, for machines whose builds cannot pull images or reach PyPI
  (the CI machines). It needs root, because debootstrap does.
"""
from __future__ import annotations

import os
import subprocess
from collections import deque
from pathlib import Path
from typing import Callable

from grader.core.errors import SandboxError

DEFAULT_TAG = "activation-grader:latest"
BUILD_SCRIPT = Path("docker") / "build-image.sh"


class ImageBuildError(SandboxError):
    """The build script failed; the message carries the last lines of its output."""

    mode = "docker"


def find_repo_root(repo_root: Path | None = None) -> Path:
    """The checkout that holds ``docker/build-image.sh``.

    The scripts and the Dockerfile are not part of the installed package, so
    building needs a source checkout: the given directory, else the checkout
    this package was imported from (editable installs), else the current
    directory.
    """
    candidates = [repo_root] if repo_root is not None else [Path(__file__).resolve().parents[2], Path.cwd()]
    for candidate in candidates:
        if candidate is not None and (Path(candidate) / BUILD_SCRIPT).is_file():
            return Path(candidate).resolve()
    where = ", ".join(str(c) for c in candidates if c is not None)
    raise FileNotFoundError(
        f"{BUILD_SCRIPT} not found in {where}: building the image needs the activation-grader "
        f"source checkout (pass repo_root, or run from the repository root)"
    )


def build_image(
    offline: bool,
    tag: str = DEFAULT_TAG,
    repo_root: Path | None = None,
    progress: Callable[[str], None] = print,
) -> str:
    """Build the grading image and return its tag.

    Runs ``docker/build-image.sh`` (``--offline`` builds the debootstrap base
    and downloads wheels first; both steps are skipped when already done, and
    Docker's layer cache makes a rebuild after a grader change take seconds).
    Output is streamed line by line to ``progress`` because a first build
    takes minutes and a silent wait looks like a hang.

    Raises ImageBuildError when the script fails, FileNotFoundError when no
    source checkout is found.
    """
    root = find_repo_root(repo_root)
    cmd = ["bash", str(root / BUILD_SCRIPT), "--tag", tag]
    if offline:
        cmd.append("--offline")
    tail: deque[str] = deque(maxlen=30)
    with subprocess.Popen(
        cmd,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
        env=os.environ.copy(),
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            progress(line)
        returncode = proc.wait()
    if returncode != 0:
        raise ImageBuildError(
            f"{BUILD_SCRIPT}{' --offline' if offline else ''} failed with exit code {returncode}:\n"
            + "\n".join(tail)
        )
    return tag


def image_exists(tag: str = DEFAULT_TAG) -> bool:
    """Whether the Docker engine has an image called ``tag``.

    Asks the engine through the SDK. An unreachable engine raises
    ``docker.errors.DockerException`` instead of returning False: "no image"
    leads to a multi-minute build, "no engine" needs dockerd started, and the
    caller must be able to tell the two apart.
    """
    import docker

    client = docker.from_env()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()
    return True


def ensure_image(
    tag: str = DEFAULT_TAG,
    offline: bool = True,
    repo_root: Path | None = None,
    progress: Callable[[str], None] = print,
) -> str:
    """Return ``tag``, building the image first if the engine does not have it.

    Defaults to the offline build because it works on every machine this
    project runs on, including those without Docker Hub access.
    """
    if not image_exists(tag):
        build_image(offline=offline, tag=tag, repo_root=repo_root, progress=progress)
    return tag
