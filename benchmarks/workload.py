"""A deterministic class of submissions for benchmarks: correct, partly wrong, blank, broken."""
from __future__ import annotations

import random
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "tests" / "golden" / "solution.py").read_text()

#: (correct text, wrong text): realistic single mistakes, applied to the solution, one in the functions of each
#: exercise (its correct text occurs once in the solution, inside one function: :func:`function_holding`).
#: Written by hand: an exercise module knows its mistakes as wrong values (``Mistake``), not as the code a
#: student writes, and no mechanical edit of the solution is sure to be one a student makes. The order
#: decides which mistakes each notebook of the class gets: a new exercise's goes at the end.
MISTAKES = [
    ("    s = sigmoid(x)\n    return s * (1.0 - s)\n", "    return sigmoid(x)\n"),
    ("return np.where(np.asarray(x) > 0, 1.0, 0.0)", "return np.where(np.asarray(x) >= 0, 1.0, 0.0)"),
    ("e = np.exp(z - np.max(z, axis=axis, keepdims=True))", "e = np.exp(z)"),
    ("return np.diag(s) - np.outer(s, s)", "return np.diag(s)"),
    ("return W2 @ W1, W2 @ b1 + b2", "return W2 @ W1, b1 + b2"),
    ("return grad_out * s, grad_out * a * s * (1.0 - s)", "return grad_out * s, grad_out * s * (1.0 - s)"),
    ("return 2.0 / n_in\n", "return 1.0 / n_in\n"),
    ("return np.mean(preacts > 0, axis=0) < threshold", "return np.mean(preacts >= 0, axis=0) < threshold"),
    ("grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))", "grad_alpha = float(np.sum(grad_out * x))"),
    ("delta = (out - y) / x.shape[0]", "delta = out - y"),
]


def function_holding(text: str, source: str = SOLUTION) -> str | None:
    """The name of the top-level function of ``source`` whose definition holds ``text`` (None if none does):
    the function, hence the exercise, a mistake is made in."""
    for match in re.finditer(r"^def (\w+)\(.*?(?=^def |^# %%|\Z)", source, flags=re.M | re.S):
        if text in match.group(0):
            return match.group(1)
    return None


def notebook(cells: list[str]) -> str:
    nb = new_notebook(cells=[new_markdown_cell("# Activation functions")] + [new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


def cells_of(source: str) -> list[str]:
    return [p.strip() for p in source.split("# %%") if p.strip()]


def stubs(source: str = SOLUTION) -> list[str]:
    """The cells of a notebook left blank: the import, then each function of ``source`` as a stub."""
    return ["import numpy as np"] + [f"def {name}({args}):\n    # YOUR CODE HERE\n    raise NotImplementedError"
                                     for name, args in re.findall(r"^def (\w+)\((.*?)\):", source, re.M)]


def blank() -> str:
    return notebook(stubs())


def make(directory: Path, n: int = 200, seed: int = 0) -> list[Path]:
    """``n`` notebooks: 40% correct, 40% with one to three mistakes, 10% blank, 10% broken."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        kind = rng.choices(["correct", "wrong", "blank", "broken"], [4, 4, 1, 1])[0]
        if kind == "correct":
            text = notebook(cells_of(SOLUTION))
        elif kind == "wrong":
            source = SOLUTION
            for good, bad in rng.sample(MISTAKES, rng.randint(1, 3)):
                source = source.replace(good, bad)
            text = notebook(cells_of(source))
        elif kind == "blank":
            text = blank()
        else:
            text = notebook(cells_of(SOLUTION))[: rng.randint(50, 400)]  # cut short: invalid JSON
        # a comment makes every file distinct, as real submissions are
        text = text.replace("# Activation functions", f"# Activation functions (student {i})", 1)
        path = directory / f"student{i:03d}_{kind}.ipynb"
        path.write_text(text)
        paths.append(path)
    return paths
