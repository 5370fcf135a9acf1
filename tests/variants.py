"""Submissions derived from the one golden solution, so a change to it reaches every variant.

``tests/golden/solution.py`` is the only hand-written correct submission. Every other
golden submission (wrong, crashing, looping) and every mutation a test grades is
that file with a few edits: each edit replaces text that must occur exactly once,
so when the solution changes, the variant that no longer applies fails loudly
and names what to update, instead of silently testing something else.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
SOLUTION = GOLDEN / "solution.py"


class EditDoesNotApply(AssertionError):
    """An edit's text no longer occurs exactly once in the solution."""

    def __init__(self, variant: str, old: str, count: int):
        self.variant, self.old, self.count = variant, old, count
        super().__init__(f"variant {variant!r}: {old!r} occurs {count} times in {SOLUTION.name} (expected once); "
                         f"update its edits in tests/variants.py to match the solution")


def derive(source: str, edits: tuple[tuple[str, str], ...], *, variant: str = "edited") -> str:
    """``source`` with each ``(old, new)`` applied; ``old`` must occur exactly once."""
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise EditDoesNotApply(variant, old, count)
        source = source.replace(old, new)
    return source


@dataclass(frozen=True)
class Variant:
    """A golden submission: a header saying what it does, and its edits of the solution."""

    name: str
    header: str
    edits: tuple[tuple[str, str], ...]

    def source(self, solution: str | None = None) -> str:
        base = SOLUTION.read_text() if solution is None else solution
        return self.header + derive(base, self.edits, variant=self.name)


VARIANTS = (
    Variant("wrong_q3_q5_q7_q10.py",
            "# Four realistic mistakes: c without b2, the Jacobian's diagonal only,\n"
            "# the variance used as a standard deviation, the loss not divided by the batch.\n",
            (("return W2 @ W1, W2 @ b1 + b2", "return W2 @ W1, W2 @ b1"),
             ("return np.diag(s) - np.outer(s, s)", "return np.diag(s)"),
             ("rng.normal(0.0, np.sqrt(var), size=(n_in, n_out))", "rng.normal(0.0, var, size=(n_in, n_out))"),
             ("delta = (out - y) / x.shape[0]", "delta = out - y"))),
    Variant("crashing.py",
            "# Crashes three ways: a cell calls sys.exit, softmax calls os._exit, dead_relu_units raises.\n",
            (("# %%\ndef collapse_affine(",
              "# %%\nimport sys\nsys.exit('a cell that exits: Jupyter goes on with the next cell')\n\n"
              "# %%\ndef collapse_affine("),
             ("def softmax(z, axis=-1):\n",
              "def softmax(z, axis=-1):\n    import os\n"
              "    os._exit(3)  # kills the process: only q4 is lost, the grader runs the rest again\n"),
             ("def dead_relu_units(preacts, threshold=0.01):\n",
              "def dead_relu_units(preacts, threshold=0.01):\n    raise RuntimeError(\"not finished\")\n"))),
    Variant("looping.py",
            "# Loops twice: a top-level cell that never ends (before q7) and glu (q6).\n",
            (("def glu(a, b):\n",
              "def glu(a, b):\n    while True:  # hangs: q6 is stopped after the step timeout, the rest is graded\n"
              "        pass\n"),
             ("# %%\ndef xavier_variance(",
              "# %%\nimport time\nwhile True:\n    time.sleep(0.1)\n\n# %%\ndef xavier_variance("))),
)


def golden_sources() -> dict[str, str]:
    """Every golden submission by file name: the solution and each variant derived from it."""
    solution = SOLUTION.read_text()
    return {SOLUTION.name: solution, **{v.name: v.source(solution) for v in VARIANTS}}


def solution_cells(*names: str) -> str:
    """The solution's import cell and the cells that define any of ``names``, as one cell's source."""
    cells = [c.strip("\n") for c in SOLUTION.read_text().split("# %%") if c.strip()]
    defining = [c for c in cells if any(f"def {n}(" in c for n in names)]
    assert defining, f"tests/golden/solution.py defines none of {names}"
    return "\n\n\n".join([cells[0], *defining]) + "\n"


def variant(name: str) -> str:
    """The source of one golden submission by file name."""
    return golden_sources()[name]
