"""How a run stops when something outside the submissions goes wrong: a signal, an output directory that
cannot be written, a grading process that was lost.

None of these is a submission's doing, and none may cost a result already written: ``grader.pipeline.batch``
catches them where they happen, writes what it can (every result is written atomically, so each file
on disk is whole), and ends with one message that says what happened, what was kept, and that the
same command resumes. The command line maps them to exit statuses (``docs/grading.md``).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

from grader.core.errors import GraderError

#: Exit statuses of ``activation-grader grade`` beyond 0 (every submission has its row and score),
#: 1 (nothing graded: fix the set-up or the input) and 2 (a usage error).
EXIT_GRADER_FAILED = 3  # the grader failed on some submissions: their rows say ``error``
EXIT_FAULT = 4  # a fault on the grading side stopped the run (e.g. the output disk is full)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: the run stops, keeps what it graded, and exits with 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class OutputFailed(GraderError):
    """The output directory cannot be written (full, read-only, gone): the run stops at once."""

    exit_status = EXIT_FAULT


def signal_number(exc: BaseException) -> int:
    """The signal an interruption came from (Ctrl-C raises a plain ``KeyboardInterrupt``: SIGINT)."""
    return getattr(exc, "signum", signal.SIGINT)


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while this is open (SIGTERM would
    otherwise end the process at once, with nothing written)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """A second Ctrl-C while the run writes what it graded must not cut that short: SIGINT and SIGTERM are
    ignored for the few seconds it takes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def lost_worker(exc: BaseException) -> bool:
    """Whether a task failed because the process grading it was lost (killed by the kernel's OOM killer,
    by a signal), not because of anything in the submission or the grader's code."""
    return isinstance(exc, BrokenProcessPool)


LOST_WORKER = "the process grading it was lost (killed from outside: the kernel's out-of-memory killer, a signal)"
