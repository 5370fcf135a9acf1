"""The canonical form of one unit of a submission's code: one spelling for what is written many ways.

:class:`Canonical` rewrites a unit's tree in place, bottom-up (see :mod:`grader.reports.similarity.normalise`
for the list of what it makes one); :func:`rename` then gives parameters and locals positional names.
Pure: no I/O.
"""
from __future__ import annotations

import ast
import builtins
import copy
from collections.abc import Iterable, Mapping
from typing import Protocol

BUILTINS = frozenset(dir(builtins))
_NUMPY_BINARY = {"multiply": ast.Mult, "add": ast.Add, "subtract": ast.Sub, "divide": ast.Div,
                 "true_divide": ast.Div, "matmul": ast.MatMult, "dot": ast.MatMult}
_METHODS = frozenset({"sum", "mean", "max", "min", "prod", "std", "var", "any", "all", "clip", "round"})
_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr)
_MIRROR = {ast.Lt: ast.Gt, ast.LtE: ast.GtE}


class Names(Protocol):
    """What the canonical form needs to know of the notebook's top level."""

    numpy: set[str]  # the names NumPy is imported as
    from_numpy: Mapping[str, str]  # name -> NumPy's name for it (``from numpy import exp``)
    definitions: Mapping[str, object]  # every top-level name the notebook defines


def lambda_of(node: ast.AST) -> ast.Lambda | None:
    """The lambda of ``name = lambda ...: ...`` (a function by another spelling)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Lambda):
        return node.value
    return None


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


class Canonical(ast.NodeTransformer):
    """Rewrites a unit bottom-up into its canonical spelling (see the module docstring)."""

    def __init__(self, module: Names, contract: set[str], helpers: set[str], local: set[str]) -> None:
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


def locals_of(node: ast.AST) -> tuple[list[str], set[str]]:
    """(parameters in order, every name bound inside) of a function (``def`` or ``name = lambda``); for
    another top-level statement, the parameters of the lambdas in it."""
    function = lambda_of(node) or node
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


def rename(node: ast.AST, params: list[str], bound: set[str]) -> None:
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
