"""A submission's own code per exercise, normalised so that cosmetic edits do not hide a copy.

For each exercise, the *units* are the top-level functions the contract names (the last
definition wins, as in Jupyter, whatever cell it is in), the student's own helper functions
they call, and the top-level assignments of the global names they read. Each unit is parsed
with :mod:`ast` and rewritten into one canonical form:

- docstrings, bare strings, ``...``, ``pass``, ``print(...)`` statements and annotations are
  dropped (comments never reach the tree);
- parameters become ``p0, p1 ...`` by position and every other local name ``v0, v1 ...`` by
  first use; helpers the student defined are all ``H``, their global constants ``G``; every
  alias of NumPy is ``np`` (``from numpy import exp`` makes ``exp`` ``np.exp``);
- trivially equivalent spellings are made one: ``x**2``/``x*x``/``np.square(x)``/``np.power(x, 2)``,
  ``np.multiply(a, b)``/``a*b`` (and add, subtract, divide, matmul, dot), ``a - b``/``a + -b``,
  the operands of ``+``, ``*``, ``&``, ``|``, ``==``, ``!=`` and the arguments of ``np.maximum`` and
  ``np.minimum`` in one order, ``0 < x``/``x > 0``, ``x.sum()``/``np.sum(x)``, ``a += b``/``a = a + b``,
  ``np.array``/``np.asarray``, ``1``/``1.0``.

The canonical form is unparsed statement by statement and cut into Python's tokens:
each statement keeps its lines in the code shown to an instructor, so that the shared parts
can be highlighted. Reformatting, renaming, reordering functions, moving code between cells
and rewriting comments or docstrings change nothing here. Pure: no I/O.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from grader.reports.similarity.canonical import BUILTINS, Canonical, lambda_of, locals_of, rename

#: Bumped whenever the canonical form changes: stored token streams of another version are recomputed.
VERSION = 1

@dataclass(frozen=True)
class Statement:
    """One statement (or a compound statement's header) as tokens, with its lines in the shown code."""

    first: int  # lines counted from 1 in ExerciseCode.code; 0 when the tokens have no line of their own
    last: int
    tokens: tuple[str, ...]

    @property
    def key(self) -> str:
        return " ".join(self.tokens)


@dataclass(frozen=True)
class ExerciseCode:
    """What a submission wrote for one exercise: the code as written, and its units as statements."""

    code: str
    units: tuple[tuple[Statement, ...], ...]

    def to_dict(self) -> dict:
        return {"code": self.code,
                "units": [[[s.first, s.last, list(s.tokens)] for s in unit] for unit in self.units]}

    @classmethod
    def from_dict(cls, data: Mapping) -> ExerciseCode:
        units = tuple(tuple(Statement(int(a), int(b), tuple(str(t) for t in toks)) for a, b, toks in unit)
                      for unit in data.get("units", ()))
        return cls(str(data.get("code", "")), units)


# -- reading the cells ------------------------------------------------------------------------------
@dataclass
class _Module:
    """The top level of every cell that parses, in cell order: the last definition of a name wins."""

    definitions: dict[str, tuple[list[str], ast.stmt]]
    numpy: set[str]
    from_numpy: dict[str, str]

    def is_function(self, name: str) -> bool:
        node = self.definitions[name][1]
        return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or lambda_of(node) is not None


def _read(cells: Iterable[str]) -> _Module:
    module = _Module({}, {"np", "numpy"}, {})
    for source in cells:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # a cell that does not parse defines nothing here (and fails on its own when run)
        lines = source.splitlines()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                module.definitions[node.name] = (lines, node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            module.definitions[name.id] = (lines, node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "numpy":
                        module.numpy.add(alias.asname or "numpy")
            elif isinstance(node, ast.ImportFrom) and node.module == "numpy" and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        module.from_numpy[alias.asname or alias.name] = alias.name
    return module


def _free_names(node: ast.AST) -> set[str]:
    loaded, stored = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else stored).add(n.id)
        elif isinstance(n, ast.arg):
            stored.add(n.arg)
    return loaded - stored


def exercise_code(cells: Sequence[str], names: Mapping[str, Sequence[str]],
                  only: Iterable[str] | None = None) -> dict[str, ExerciseCode]:
    """Each exercise's own code in ``cells`` (``names``: the contract's function names per exercise).

    An exercise none of whose functions is defined is left out. ``only``: the exercises wanted (default all).
    """
    module = _read(cells)
    contract = {n for ns in names.values() for n in ns}
    helpers = {n for n in module.definitions if n not in contract and module.is_function(n)}
    free: dict[int, set[str]] = {}
    wanted: dict[str, list[tuple[str, list[str], ast.stmt]]] = {}
    for q in (names if only is None else only):  # every exercise's units first: rendering rewrites the trees
        units = [(n, *module.definitions[n]) for n in names[q] if n in module.definitions]
        if not units:
            continue
        seen = {n for n, _, _ in units}
        nodes = [u[2] for u in units]
        i = 0
        while i < len(units) and len(units) < 50:  # the helpers and globals they reach
            node = units[i][2]
            if id(node) not in free:
                free[id(node)] = _free_names(node)
            for name in sorted(free[id(node)]):
                if name in seen or name in contract or name in BUILTINS or name not in module.definitions:
                    continue
                seen.add(name)
                found = module.definitions[name][1]
                if not any(found is n for n in nodes):
                    units.append((name, *module.definitions[name]))
                    nodes.append(found)
            i += 1
        wanted[q] = units
    canonical: dict[int, tuple[Statement, ...]] = {}  # a unit several exercises use is rewritten once
    return {q: _render(units, module, contract, helpers, canonical) for q, units in wanted.items()}


def _render(units: list[tuple[str, list[str], ast.stmt]], module: _Module, contract: set[str],
            helpers: set[str], canonical: dict[int, tuple[Statement, ...]]) -> ExerciseCode:
    shown: list[str] = []
    statements: list[tuple[Statement, ...]] = []
    offset = 0
    for _, lines, node in units:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        text = "\n".join(lines[first - 1:node.end_lineno])
        if id(node) not in canonical:  # the cell's own tree, rewritten in place (lines count in the cell)
            canonical[id(node)] = tuple(_statements(node, module, contract, helpers, 0))
        shift = offset - first + 1
        statements.append(tuple(Statement(s.first + shift, s.last + shift, s.tokens) if s.first > 0 else s
                                for s in canonical[id(node)]))
        shown.append(text)
        offset += text.count("\n") + 2  # units are shown one blank line apart
    return ExerciseCode("\n\n".join(shown), tuple(statements))


#: Python's tokens as ``ast.unparse`` writes them (one canonical layout: no comments, no line breaks
#: inside a statement but in strings, which it writes as one literal each).
_TOKEN = re.compile(r"""[rRbBuUfF]{0,2}(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|'\'\'[\s\S]*?'\'\'|\"\"\"[\s\S]*?\"\"\")"""
                    r"|\d[\w.]*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\w+"
                    r"|\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%@&|^<>!=]=|\.\.\.|\S")


def _tokens(text: str) -> list[str]:
    """The tokens of canonical text (what ``ast.unparse`` wrote), as :mod:`tokenize` cuts them."""
    return _TOKEN.findall(text)


def _header(node: ast.stmt) -> str | None:
    """A compound statement's first line in canonical form (its bodies are statements of their own)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        decorators = "".join(f"@{ast.unparse(d)} " for d in node.decorator_list)
        return f"{decorators}def {node.name}({ast.unparse(node.args)}):"
    if isinstance(node, ast.If):
        return f"if {ast.unparse(node.test)}:"
    if isinstance(node, ast.While):
        return f"while {ast.unparse(node.test)}:"
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}:"
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return "with " + ", ".join(ast.unparse(i) for i in node.items) + ":"
    if isinstance(node, ast.Try):
        return "try:"
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}:"
    return None


def _header_end(node: ast.stmt) -> int:
    """The last line of a compound statement's header (its signature or condition; not the comments after)."""
    parts: list[ast.AST] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parts = [node.args, *([node.returns] if node.returns else [])]
    elif isinstance(node, (ast.If, ast.While)):
        parts = [node.test]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        parts = [node.iter]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        parts = [i.context_expr for i in node.items]
    ends = [getattr(n, "end_lineno", None) for part in parts for n in ast.walk(part)]
    return max([node.lineno, *(e for e in ends if isinstance(e, int))])


def _flatten(node: ast.stmt, shift: int, out: list[Statement]) -> None:
    header = _header(node)
    if header is None:
        out.append(Statement(node.lineno + shift, (node.end_lineno or node.lineno) + shift,
                             tuple(_tokens(ast.unparse(node)))))
        return
    body = getattr(node, "body", [])
    last = _header_end(node)
    out.append(Statement(node.lineno + shift, last + shift, tuple(_tokens(header))))
    for child in body:
        _flatten(child, shift, out)
    for handler in getattr(node, "handlers", []):
        out.append(Statement(0, 0, tuple(_tokens(f"except {ast.unparse(handler.type) if handler.type else ''}:"))))
        for child in handler.body:
            _flatten(child, shift, out)
    for part in ("orelse", "finalbody"):
        block = getattr(node, part, [])
        if block:
            out.append(Statement(0, 0, ("else" if part == "orelse" else "finally", ":")))
            for child in block:
                _flatten(child, shift, out)


def _statements(node: ast.stmt, module: _Module, contract: set[str], helpers: set[str],
                shift: int) -> list[Statement]:
    """The canonical statements of one unit (a tree of its own: it is rewritten in place)."""
    params, bound = locals_of(node)
    try:
        canonical = Canonical(module, contract, helpers, bound).visit(node)
        if canonical is None:
            return []
        if isinstance(canonical, (ast.FunctionDef, ast.AsyncFunctionDef)) and canonical.name in helpers:
            canonical.name = "H"
        rename(canonical, params, bound)
        out: list[Statement] = []
        _flatten(canonical, shift, out)
        return out
    except (RecursionError, ValueError, TypeError, AttributeError):
        return []  # a construct the canonical form does not know: the unit counts for nothing
