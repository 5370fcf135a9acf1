"""Layer 6, the interfaces: the command line, the Otter plugin and the Gradescope entry points.

The only layer that uses click, and the only one that imports the grader inside functions
(so that ``activation-grader --help`` loads click alone).
"""
