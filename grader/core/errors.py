"""The grader's own exceptions: a problem the user can fix, with the message that says how.

Library code raises these (never a ``click`` exception): the command line turns them into
its error messages (``grader.interfaces.cli``), and other callers (the Otter plugin, a script) read the
fields.
"""
from __future__ import annotations


class GraderError(Exception):
    """A problem the user can fix; ``message`` says what went wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
