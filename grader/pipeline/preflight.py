"""What a run needs of the grading side, checked once before anything is graded.

A sandbox that cannot work (no Docker engine, no image, an isolation this machine refuses) would
otherwise fail on every submission in turn and give each an ``error`` row; checked up front, the
run stops before grading anything with one line that says what to fix (the command line shows it
as ``Error: ...`` and exits 1). What can only fail later (a worker that dies mid-run, an engine
that restarts) is reported at the end of the run (``grader.pipeline.batch``, ``grader.pipeline.faults``).
"""
from __future__ import annotations

from grader.sandbox.docker import DockerUnavailable, docker_client
from grader.core.errors import GraderError
from grader.sandbox.isolation import isolation_mode, require_mode
from grader.pipeline.tasks import Options
from grader.core.text import one_line


class SetupError(GraderError):
    """The grading side cannot work as asked; ``message`` (one line) says what to fix."""


def check_setup(options: Options) -> None:
    """Raise :class:`SetupError` (or ``IsolationUnavailable``, also a ``GraderError``) when the sandbox asked
    for cannot run here. With Dask the sandboxes run on the cluster's hosts, which are not checked here."""
    if options.executor != "local":
        return
    if options.sandbox == "docker":
        check_docker(options.image)
    else:
        require_mode(isolation_mode(options.isolation), options.require_isolation)  # by the mode's name


def check_docker(image: str) -> None:
    """The engine answers and has ``image``."""
    try:
        client = docker_client()
    except DockerUnavailable as exc:
        raise SetupError(one_line(f"--sandbox docker: {exc}", 400)) from None
    try:
        import docker

        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise SetupError(f"--sandbox docker: the image {one_line(image, 200)} does not exist here: build it "
                             f"with `activation-grader image build --offline --tag {one_line(image, 200)}`, or pass "
                             f"--image with one that exists (`docker images`).") from None
        except docker.errors.APIError as exc:
            raise SetupError(one_line(f"--sandbox docker: the Docker engine could not look up the image {image} "
                                      f"({exc}); check the engine and try again.", 400)) from None
    finally:
        client.close()
