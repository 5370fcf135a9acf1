"""The grader's own exceptions: one hierarchy, each with the message that says what went wrong.

Library code raises these (never a ``click`` exception): the command line turns a :class:`GraderError`
into its error message (``grader.interfaces.cli``), other callers (the Otter plugin, a script, the
pipeline) catch the branch they can act on and read the fields. Every class keeps its name and its
message: users and tests catch them by name, and records name them (``type(exc).__name__``).

How the hierarchy is organised (the branch says who can act on it)::

    GraderError                      message: what went wrong and what to do
    ├── a problem the user can fix (set-up, input, output directory), raised by the layer that finds it:
    │     SetupError (pipeline.preflight), OutputFailed (pipeline.faults), MergeError → NotAnOutputDirectory,
    │     MissingResults (pipeline.merge), DaskExecutorError (pipeline.executors), RecordError (rubric.record,
    │     also a ValueError), NotARecord (reports.files), ShimError (interfaces.buildx_shim),
    │     GradescopeRunError (interfaces.gradescope_local)
    ├── a submission that is not graded, for a reason its author can fix (``status`` goes into its row):
    │     SubmissionError (pipeline.notebook), ArchiveRefused (pipeline.archives),
    │     Unreadable (interfaces.otter_gradescope)
    └── SandboxError                 the sandbox failed, not the submission; mode, detail, how_to_fix
        ├── IsolationUnavailable (sandbox.isolation): the isolation asked for cannot be had here
        ├── DockerUnavailable (sandbox.docker): no engine, or no image
        ├── ImageBuildError (sandbox.image): the image's build script failed
        ├── WorkerDied (sandbox.process): the worker process itself is gone (it is restarted)
        └── JobFailed: a job the sandbox could not run to its end; the submission's record is ``error``
            ├── JobDidNotStart (pipeline.execution): the sandbox died twice before running anything
            └── SandboxLost (pipeline.execution): the sandbox was lost mid-run from outside

Which to raise where: a function that finds bad input or set-up raises the first branch's class of its
own layer (or a new subclass of :class:`GraderError` beside it); the reading of a submission raises
:class:`SubmissionError`; a sandbox raises a :class:`SandboxError`, and a failure that must make the
record ``error`` rather than charge the submission is a :class:`JobFailed`.

``DockerUnavailable``, ``ImageBuildError``, ``JobDidNotStart`` and ``SandboxLost`` were once
``RuntimeError``s and ``WorkerDied`` a bare ``Exception``; nothing caught them as such, so no class
here inherits twice for compatibility (only ``RecordError`` is, as it was, also a ``ValueError``: a value
that is not a record). A sandbox failure that reaches the command line is shown as its message, as
every ``GraderError`` is.

Not in the hierarchy, on purpose (``tests/test_errors.py`` lists them with these reasons): the check
failures of ``grader.rubric.checks`` and ``grader.rubric.runner`` (``CheckFailure``, an
``AssertionError``, and its ``CallFailed``, ``WrongShape``, ``Mismatch``, ``NotFinite``,
``PropertyViolated``, ``InputMutated``, ``MissingValueError``, ``NotEarned``, ``CheckError``: the
student's mistakes, which become feedback, not the grader's); the wire's
``WireError`` and ``ResultTooLarge`` and the worker configuration's ``ConfigError`` (part of the
shipped worker program, which runs alone in the sandbox and imports nothing of the grader); ``Interrupted`` (a ``KeyboardInterrupt``, so that it stops
whatever ``except Exception`` would swallow); and ``_OverLimit`` (control flow inside the notebook
reader that never leaves it).
"""
from __future__ import annotations


class GraderError(Exception):
    """The root of the grader's own exceptions; ``message`` says what went wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):
        """Pickled with its fields, whatever its ``__init__`` takes: a refusal met in a worker process
        of a pool (an archive's member, a sandbox's failure) reaches the batch whole, not as a TypeError."""
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls: type, args: tuple, state: dict) -> "GraderError":
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class SandboxError(GraderError):
    """The sandbox failed, not the submission: nothing of it may be charged to the student.

    ``mode``: the sandbox or isolation concerned (``process``, ``docker``, ``uid`` ...) where known;
    ``detail``: what was seen (an exit status, an engine's answer); ``how_to_fix``: what the
    instructor can do, where the message does not say it already. None where not known: the
    message (``str(exc)``) is always complete on its own.
    """

    mode: str | None = None

    def __init__(self, message: str, *, mode: str | None = None, detail: str | None = None,
                 how_to_fix: str | None = None) -> None:
        super().__init__(message)
        if mode is not None:
            self.mode = mode
        self.detail, self.how_to_fix = detail, how_to_fix


class JobFailed(SandboxError):
    """A job the sandbox could not run to its end for reasons of its own: the submission's record is an
    ``error`` (see ``grader.pipeline.grading``), never a score of what the sandbox did to it."""
