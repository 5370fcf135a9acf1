"""Layer 1, the foundation: the escaping of submitted text and the grader's exception base.

With ``reference/`` (the forward functions and the autograd keys) and the version in ``grader``
itself, this is what every other layer may use. Nothing here reads or writes anything.
"""
