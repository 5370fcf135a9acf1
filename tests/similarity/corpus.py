"""A class for calibrating the similarity report: independently written solutions, and copies of them.

The independent solutions are the golden solution (``tests/golden/solution.py``) and the four
solutions of this folder, each written apart in its own style (boolean masks and preallocated
arrays; lambdas, dictionaries and ``from numpy import``; a beginner's loops and temporaries;
terse NumPy idioms). Every golden variant of ``tests/variants.py`` is derived from the golden
solution, so it counts as a copy of it. Each solution is copied by every transformation a copier
uses to hide a copy (:data:`TRANSFORMS`), alone and all combined.
"""
from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
from pathlib import Path

from variants import SOLUTION, VARIANTS

HERE = Path(__file__).resolve().parent
ORIGINALS = {"golden": SOLUTION, **{p.stem.removeprefix("solution_"): p for p in sorted(HERE.glob("solution_*.py"))}}
KEEP = set(dir(builtins)) | {"np", "numpy", "math", "reduce", "exp", "tanh", "where", "self"}


def cells(source: str) -> list[str]:
    """The cells of a percent-format script."""
    return [c for c in re.split(r"^# %%[^\n]*\n", source, flags=re.M) if c.strip()]


def join(parts: list[str]) -> str:
    return "".join(f"# %%\n{c.rstrip()}\n\n" for c in parts)


def _contract() -> set[str]:
    from grader.rubric.exercises import EXERCISES

    return {n for ex in EXERCISES.values() for n in ex.names}


def rename(source: str) -> str:
    """Every name the student chose (variables, parameters, helpers; not the contract's) renamed."""
    tree = ast.parse(source)
    contract, keywords = _contract(), {k.arg for k in ast.walk(tree) if isinstance(k, ast.keyword)}
    chosen = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
                    | {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
                    | {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)})
    mapping = {name: f"my_{name.lower().strip('_')}_{i}" for i, name in enumerate(chosen)
               if name not in contract and name not in KEEP and name not in keywords}
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def reformat(source: str) -> str:
    """Every token spaced apart, quotes swapped, blank lines doubled: the same code, laid out anew."""
    parts = []
    for cell in cells(source):
        tokens = [(t.type, t.string.replace("'", '"') if t.type == tokenize.STRING and '"' not in t.string
                   else t.string) for t in tokenize.generate_tokens(io.StringIO(cell).readline)]
        parts.append(tokenize.untokenize(tokens).replace("\n\n", "\n\n\n"))
    return join(parts)


def reorder(source: str) -> str:
    """Cells in reverse order (the imports still first), and the functions of each cell reversed."""
    parts = cells(source)
    out = []
    for cell in parts[1:][::-1]:
        tree = ast.parse(cell)
        lines = cell.splitlines()
        blocks = [("\n".join(lines[(n.decorator_list[0].lineno if getattr(n, "decorator_list", None) else n.lineno) - 1:
                                   n.end_lineno])) for n in tree.body]
        out.append("\n\n\n".join(blocks[::-1]))
    return join([parts[0], *out])


def recomment(source: str) -> str:
    """Comments and docstrings removed, others written in their place."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body.pop(0)
            body.insert(0, ast.Expr(ast.Constant(f"My own {node.name}, written from the lecture notes.")))
    out = []
    for line in ast.unparse(tree).splitlines():
        stripped = line.lstrip()
        if stripped.startswith("return "):
            out.append(line[:len(line) - len(stripped)] + "# the result, as asked")
        out.append(line)
    return "# %%\n" + "\n".join(out) + "\n"


def split_cells(source: str) -> str:
    """Every top-level statement in a cell of its own, with an unrelated cell in between."""
    tree = ast.parse(source)
    parts = [ast.get_source_segment(source, node, padded=False) for node in tree.body]
    return join([p for part in parts for p in (part, "checked = True\nprint('checked')")])


_SPELLINGS = (
    (re.compile(r"\b([A-Za-z_][\w.]*) ?\*\* ?2\b"), r"\1 * \1"),
    (re.compile(r"np\.exp\(-"), "np.exp(- "),
    (re.compile(r"(?<![\w.])1\.0(?![\d])"), "1"),
    (re.compile(r"(?<![\w.])2\.0(?![\d])"), "2"),
    (re.compile(r"\b([a-z_]\w*) > 0\b"), r"0 < \1"),
    (re.compile(r"np\.asarray\("), "np.array("),
)


def respell(source: str) -> str:
    """Trivially equivalent spellings: ``x**2``/``x * x``, ``np.exp(-x)``/``np.exp(- x)``, ``1.0``/``1``,
    ``x > 0``/``0 < x``, ``np.asarray``/``np.array``."""
    for pattern, replacement in _SPELLINGS:
        source = pattern.sub(replacement, source)
    return source


def combined(source: str) -> str:
    return split_cells(respell(reorder(reformat(recomment(rename(source))))))


TRANSFORMS = {"renamed": rename, "reformatted": reformat, "reordered": reorder, "recommented": recomment,
              "split": split_cells, "respelled": respell, "combined": combined}


def corpus() -> dict[str, tuple[str, str]]:
    """Every submission of the calibration class: name -> (family, source). A family is one original
    and its copies; two submissions of one family are a copy pair, of two families an independent pair."""
    out: dict[str, tuple[str, str]] = {}
    for family, path in ORIGINALS.items():
        source = path.read_text()
        out[f"{family}.py"] = (family, source)
        for name, transform in TRANSFORMS.items():
            out[f"{family}_{name}.py"] = (family, transform(source))
    golden = SOLUTION.read_text()
    for variant in VARIANTS:
        out[f"golden_variant_{variant.name}"] = ("golden", variant.source(golden))
    return out
