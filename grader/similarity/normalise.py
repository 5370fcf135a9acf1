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
import builtins
import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Bumped whenever the canonical form changes: stored token streams of another version are recomputed.
VERSION = 1

BUILTINS = frozenset(dir(builtins))
_NUMPY_BINARY = {"multiply": ast.Mult, "add": ast.Add, "subtract": ast.Sub, "divide": ast.Div,
                 "true_divide": ast.Div, "matmul": ast.MatMult, "dot": ast.MatMult}
_METHODS = frozenset({"sum", "mean", "max", "min", "prod", "std", "var", "any", "all", "clip", "round"})
_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr)
_MIRROR = {ast.Lt: ast.Gt, ast.LtE: ast.GtE}


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
        return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or _lambda_of(node) is not None


def _lambda_of(node: ast.AST) -> ast.Lambda | None:
    """The lambda of ``name = lambda ...: ...`` (a function by another spelling)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Lambda):
        return node.value
    return None


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


# -- the canonical form ------------------------------------------------------------------------------
def _key(node: ast.AST, local: set[str]) -> str:
    """A canonical text of ``node`` with its local names erased: the order of commutative operands."""
    if isinstance(node, ast.Name):
        return "V" if node.id in local else node.id
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.AST):
        parts = [type(node).__name__]
        for name, value in ast.iter_fields(node):
            if name == "ctx":
                continue
            parts.append(_key(value, local))
        return "(" + " ".join(parts) + ")"
    if isinstance(node, list):
        return "[" + ",".join(_key(v, local) for v in node) + "]"
    return repr(node)


def _np(attr: str) -> ast.Attribute:
    return ast.Attribute(ast.Name("np", ast.Load()), attr, ast.Load())


def _np_name(node: ast.AST) -> str | None:
    """``f`` when ``node`` is ``np.f`` (after aliases were made ``np``)."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np"):
        return node.attr
    return None


class _Canonical(ast.NodeTransformer):
    """Rewrites a unit bottom-up into its canonical spelling (see the module docstring)."""

    def __init__(self, module: _Module, contract: set[str], helpers: set[str], local: set[str]) -> None:
        self.module, self.contract, self.helpers, self.local = module, contract, helpers, local

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.local:
            return node
        if node.id in self.module.numpy:
            return ast.copy_location(ast.Name("np", node.ctx), node)
        if node.id in self.module.from_numpy:
            return ast.copy_location(_np(self.module.from_numpy[node.id]), node)
        if node.id in self.helpers:
            return ast.copy_location(ast.Name("H", node.ctx), node)
        if node.id not in self.contract and node.id not in BUILTINS and node.id in self.module.definitions:
            return ast.copy_location(ast.Name("G", node.ctx), node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) in (int, float) and abs(node.value) < 1e300:
            return ast.copy_location(ast.Constant(float(node.value)), node)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        value = node.value
        if isinstance(value, ast.Constant) and (isinstance(value.value, str) or value.value is Ellipsis):
            return None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print":
            return None
        return self.generic_visit(node)

    def visit_Pass(self, node: ast.Pass) -> None:
        return None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None
        return self.visit(ast.copy_location(ast.Assign([node.target], node.value), node))

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        load = copy.deepcopy(node.target)
        for n in ast.walk(load):
            if hasattr(n, "ctx"):
                n.ctx = ast.Load()
        value = ast.copy_location(ast.BinOp(load, node.op, node.value), node)
        return self.visit(ast.copy_location(ast.Assign([node.target], value), node))

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        self.generic_visit(node)
        if not node.body:
            node.body = [ast.copy_location(ast.Pass(), node)]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        name = _np_name(node.func)
        args = node.args
        plain = not node.keywords and not any(isinstance(a, ast.Starred) for a in args)
        if name in _NUMPY_BINARY and plain and len(args) == 2:
            return self.visit_BinOp(ast.copy_location(ast.BinOp(args[0], _NUMPY_BINARY[name](), args[1]), node))
        if name == "power" and plain and len(args) == 2:
            return self.visit_BinOp(ast.copy_location(ast.BinOp(args[0], ast.Pow(), args[1]), node))
        if name == "square" and plain and len(args) == 1:
            return self.visit_BinOp(ast.copy_location(ast.BinOp(args[0], ast.Mult(), copy.deepcopy(args[0])), node))
        if name == "array":
            node.func = _np("asarray")
        if name in ("maximum", "minimum") and plain and len(args) == 2:
            node.args = sorted(args, key=lambda a: _key(a, self.local))
        if name == "transpose" and plain and len(args) == 1:
            return ast.copy_location(ast.Attribute(args[0], "T", ast.Load()), node)
        if isinstance(node.func, ast.Attribute) and _np_name(node.func) is None:
            method, owner = node.func.attr, node.func.value
            if method == "dot" and plain and len(args) == 1:
                return self.visit_BinOp(ast.copy_location(ast.BinOp(owner, ast.MatMult(), args[0]), node))
            if method in _METHODS:
                return ast.copy_location(ast.Call(_np(method), [owner, *args], node.keywords), node)
        for keyword in node.keywords:
            if keyword.arg == "dtype" and _np_name(keyword.value) in ("float64", "double", "float_"):
                keyword.value = ast.Name("float", ast.Load())
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) and node.right.value in (2, 3, 4):
            factors = [copy.deepcopy(node.left) for _ in range(int(node.right.value))]
            return self._chain(ast.Mult, factors, node)
        if isinstance(node.op, ast.Sub):
            node = ast.copy_location(ast.BinOp(node.left, ast.Add(), ast.UnaryOp(ast.USub(), node.right)), node)
        if isinstance(node.op, _COMMUTATIVE):
            return self._chain(type(node.op), self._operands(node, type(node.op)), node)
        return node

    def _operands(self, node: ast.AST, op: type) -> list[ast.AST]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, op):
            return self._operands(node.left, op) + self._operands(node.right, op)
        return [node]

    def _chain(self, op: type, operands: list[ast.AST], where: ast.AST) -> ast.AST:
        operands = sorted(operands, key=lambda a: _key(a, self.local))
        out = operands[0]
        for operand in operands[1:]:
            out = ast.copy_location(ast.BinOp(out, op(), operand), where)
        return out

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.UnaryOp) \
                and isinstance(node.operand.op, ast.USub):
            return node.operand.operand
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if type(op) in _MIRROR:
            return ast.copy_location(ast.Compare(right, [_MIRROR[type(op)]()], [left]), node)
        if isinstance(op, (ast.Eq, ast.NotEq)) and _key(right, self.local) < _key(left, self.local):
            return ast.copy_location(ast.Compare(right, [op], [left]), node)
        return node


def _locals(node: ast.AST) -> tuple[list[str], set[str]]:
    """(parameters in order, every name bound inside) of a function (``def`` or ``name = lambda``); for
    another top-level statement, the parameters of the lambdas in it."""
    function = _lambda_of(node) or node
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return [], {n.arg for n in ast.walk(node) if isinstance(n, ast.arg)}
    a = function.args
    params = [x.arg for x in [*a.posonlyargs, *a.args, *([a.vararg] if a.vararg else []), *a.kwonlyargs,
                              *([a.kwarg] if a.kwarg else [])]]
    bound = set(params)
    for n in ast.walk(function):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            bound.add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n is not function:
            bound.add(n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
    return params, bound


def _rename(node: ast.AST, params: list[str], bound: set[str]) -> None:
    """Parameters ``p0 ...`` by position, other locals ``v0 ...`` by first appearance in the canonical tree."""
    names = {p: f"p{i}" for i, p in enumerate(params)}

    def new(name: str) -> str:
        if name not in names:
            names[name] = f"v{len(names) - len(params)}"
        return names[name]

    for n in _preorder(node):
        if isinstance(n, ast.Name) and n.id in bound:
            n.id = new(n.id)
        elif isinstance(n, ast.arg) and n.arg in bound:
            n.arg = new(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n is not node and n.name in bound:
            n.name = new(n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name in bound:
            n.name = new(n.name)


def _preorder(node: ast.AST) -> Iterable[ast.AST]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(ast.iter_child_nodes(n))))


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
    params, bound = _locals(node)
    try:
        canonical = _Canonical(module, contract, helpers, bound).visit(node)
        if canonical is None:
            return []
        if isinstance(canonical, (ast.FunctionDef, ast.AsyncFunctionDef)) and canonical.name in helpers:
            canonical.name = "H"
        _rename(canonical, params, bound)
        out: list[Statement] = []
        _flatten(canonical, shift, out)
        return out
    except (RecursionError, ValueError, TypeError, AttributeError):
        return []  # a construct the canonical form does not know: the unit counts for nothing
