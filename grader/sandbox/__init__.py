"""Layer 3, the sandbox: running untrusted code and bringing back plain values.

``worker/`` is the worker program, shipped as one script to a fresh interpreter (its parts in
the order of :data:`grader.sandbox.process.SHIPPED`); the rest is the trusted side that starts
and talks to it (``process``, ``docker``), chooses the isolation (``isolation``, ``job_access``),
validates what comes back (``outcomes``) and builds the image (``image``).
"""
