"""Every exception class of the grader derives from ``grader.core.errors.GraderError``, or is listed here
with the reason it does not (see that module's docstring for how the hierarchy is organised)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import grader
from grader.core.errors import GraderError, JobFailed, SandboxError

#: The classes outside the hierarchy, each with why.
OUTSIDE = {
    # The student's mistakes, which become feedback: an AssertionError, as a test's failure is.
    "grader.rubric.checks.CheckFailure": "a check the submission failed, not the grader",
    "grader.rubric.checks.CallFailed": "a check failure",
    "grader.rubric.checks.WrongShape": "a check failure",
    "grader.rubric.checks.Mismatch": "a check failure",
    "grader.rubric.checks.NotFinite": "a check failure",
    "grader.rubric.checks.PropertyViolated": "a check failure",
    "grader.rubric.checks.InputMutated": "a check failure",
    "grader.rubric.checks.MissingValueError": "a check failure",
    "grader.rubric.runner.NotEarned": "a check failure",
    "grader.rubric.runner.CheckError": "a check failure",
    # Part of the worker program shipped into the sandbox, which imports nothing of the grader.
    "grader.sandbox.worker.wire.WireError": "shipped worker code",
    "grader.sandbox.worker.wire.ResultTooLarge": "shipped worker code",
    "grader.sandbox.worker.config.ConfigError": "shipped worker code",
    # Must pass every ``except Exception``, as Ctrl-C does.
    "grader.pipeline.faults.Interrupted": "a KeyboardInterrupt",
    # Control flow inside the notebook reader; never leaves it.
    "grader.pipeline.notebook._OverLimit": "private control flow",
}


def exception_classes() -> dict[str, type]:
    """Every exception class defined in a module of ``grader``, by its dotted name."""
    found = {}
    for info in pkgutil.walk_packages(grader.__path__, "grader."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_exception_class_derives_from_grader_error_or_is_listed_with_a_reason():
    classes = exception_classes()
    assert len(classes) > 30  # the scan sees the package (it once counted 26 classes in 15 modules)
    stray = sorted(name for name, cls in classes.items() if not issubclass(cls, GraderError) and name not in OUTSIDE)
    assert not stray, f"derive these from GraderError (grader.core.errors) or list them with a reason: {stray}"
    listed_but_gone = sorted(set(OUTSIDE) - set(classes))
    assert not listed_but_gone, listed_but_gone
    inside = sorted(name for name in OUTSIDE if issubclass(classes[name], GraderError))
    assert not inside, f"in the hierarchy after all: take them off the list {inside}"


@pytest.mark.parametrize("name", ["grader.sandbox.process.WorkerDied", "grader.sandbox.docker.DockerUnavailable",
                                  "grader.sandbox.isolation.IsolationUnavailable", "grader.sandbox.image.ImageBuildError",
                                  "grader.pipeline.execution.JobDidNotStart", "grader.pipeline.execution.SandboxLost"])
def test_the_sandbox_failures_share_one_base_and_keep_their_name_and_message(name):
    cls = exception_classes()[name]
    assert issubclass(cls, SandboxError) and cls.__name__ == name.rsplit(".", 1)[1]
    exc = cls("the worker did not start")
    assert str(exc) == exc.message == "the worker did not start" and exc.detail is None and exc.how_to_fix is None


def test_a_failed_job_is_what_grading_records_as_an_error_and_its_fields_say_what_was_seen():
    from grader.pipeline.execution import JobDidNotStart, SandboxLost
    from grader.sandbox.docker import DockerUnavailable
    from grader.sandbox.process import WorkerDied

    assert issubclass(JobDidNotStart, JobFailed) and issubclass(SandboxLost, JobFailed)
    assert not issubclass(WorkerDied, JobFailed) and not issubclass(DockerUnavailable, JobFailed)
    exc = SandboxLost("the container was stopped (gone)", detail="the container was stopped")
    assert (exc.detail, exc.mode, str(exc)) == ("the container was stopped", None, "the container was stopped (gone)")
    assert DockerUnavailable("no engine").mode == "docker"
    assert SandboxError("x", mode="uid").mode == "uid"


def test_the_grader_s_errors_cross_a_process_pool_whole():
    """A pool returns a worker's exception by pickling it: each keeps its class, message and fields
    (an ArchiveRefused takes two arguments and its pickle used to fail with a TypeError)."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    from grader.core.errors import SandboxError
    from grader.pipeline.archives import ArchiveRefused

    refused = ArchiveRefused("refused", "a path that leaves the archive: ../x.ipynb")
    lost = SandboxError("the engine went away", mode="docker", detail="exit 137", how_to_fix="restart it")
    for exc in (refused, lost):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc) and back.__dict__ == exc.__dict__
    with ProcessPoolExecutor(1) as pool:
        got = pool.submit(_raise_refused).exception()
    assert isinstance(got, ArchiveRefused) and got.status == refused.status and got.message == "nested"


def _raise_refused():
    from grader.pipeline.archives import ArchiveRefused

    raise ArchiveRefused("refused", "nested")
