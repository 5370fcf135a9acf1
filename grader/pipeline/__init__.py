"""Layer 5, the pipeline: one submission in, one result out, and many of them.

Reading a submission (``notebook``, ``archives``, ``submissions``), running it (``execution``),
grading it (``grading``), and the batch around it: options and keys (``tasks``), executors,
reuse and regrades, merging shards, checks before a run (``preflight``), faults.
"""
