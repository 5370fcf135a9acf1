"""The package is layered and its imports run one way: each module imports only its own layer and
the layers below, and no modules import each other in a loop.

The layers are the packages of ``grader/``, from the ground up (README, "Where things are"):

1. ``core``: the escaping of submitted text and the grader's exception base; with it ``reference/``
   (forward functions, autograd keys) and ``grader/__init__.py`` (the version);
2. ``rubric``: probes and plans, checks, the criterion runner and gates, criteria, the exercises,
   scoring, the result record; pure: no I/O;
3. ``sandbox``: the worker program (``sandbox/worker/``, shipped as one script) and the trusted side
   that starts it, chooses its isolation and validates what it sends back;
4. ``reports``: what is written from result records (results files, feedback, CSV, class report),
   and the similarity of the code kept beside them;
5. ``pipeline``: reading a submission, running it, grading it, and the batch around it;
6. ``interfaces``: the command line, the Otter plugin, the Gradescope entry points.

A module's layer is the package it sits in: the layers are read from the tree, so a new module is
placed by where its file goes. Imports are read with ``ast`` (nothing is imported), at module level
and inside functions alike, ``TYPE_CHECKING`` blocks included. Besides: the core and the rubric do
no I/O, the worker program's parts import only the parts shipped before them, click is for the
interfaces only, and below the interfaces the grader's own modules are imported at the top of a
module, never inside a function.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("grader", "reference")

#: The layers, from the ground up: each is the package ``grader/<name>/``.
ORDER = ("core", "rubric", "sandbox", "reports", "pipeline", "interfaces")

#: The only modules outside the layer packages, and the layer each belongs to.
OUTSIDE = {
    "grader": "core",                     # the version
    "reference": "core", "reference.*": "core",  # the forward functions and the autograd keys
    "grader.__main__": "interfaces",      # ``python -m grader``
    "grader.otter_plugin": "interfaces",  # the plugin's public name in instructors' otter_config.json
}


def _layers() -> dict[str, tuple[str, ...]]:
    """Each layer's members as module patterns, read from the folders of ``grader/``."""
    folders = sorted(p.name for p in (ROOT / "grader").iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(ORDER), (f"grader/ holds the packages {folders}; the layers are {list(ORDER)}: "
                                      "put a new module in the package of its layer")
    layers = {name: (f"grader.{name}", f"grader.{name}.*") for name in ORDER}
    for module, layer in OUTSIDE.items():
        layers[layer] += (module,)
    return layers


LAYERS = _layers()
LEVEL = {name: i for i, name in enumerate(LAYERS)}

#: Pure layers: no module in them imports what reads or writes files, processes or sockets.
PURE = ("core", "rubric")
IMPURE_MODULES = {"os", "io", "sys", "subprocess", "socket", "shutil", "tempfile", "pathlib", "glob", "select"}

#: The worker program is these files in this order, as one script (``grader.sandbox.process.worker_source``):
#: each may import only the parts before it, on lines marked to be stripped from the script.
def _shipped() -> tuple[str, ...]:
    tree = ast.parse((ROOT / "grader" / "sandbox" / "process.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "SHIPPED" for t in node.targets):
            return tuple("grader.sandbox.worker." + name.removesuffix(".py") for name in ast.literal_eval(node.value))
    raise AssertionError("grader/sandbox/process.py no longer declares SHIPPED")


SHIPPED = _shipped()
SHIPPED_MARK = "# shipped-with-wire"

#: Imports of the grader's own modules inside a function: only the interfaces do that (so that
#: ``activation-grader --help`` loads click alone). None is left below them; the set may only
#: stay empty (an entry no longer found fails the test too).
LAZY_PENDING: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    source: str       # the importing module
    target: str       # the imported module of this project
    path: str         # the importing file, relative to the repository
    line: int
    end_line: int
    text: str         # the import as written
    lazy: bool        # inside a function

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = project_files()


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        for m in members:
            if module == m or (m.endswith(".*") and module.startswith(m[:-1]) and module != m[:-2]):
                return layer
    return None


def _resolve(name: str) -> str | None:
    """The project module that ``name`` (a module or a name inside one) refers to."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    source = path.read_text()
    tree = ast.parse(source, str(path))
    lines = source.splitlines()
    rel = path.relative_to(ROOT).as_posix()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(node: ast.stmt, names: list[str], lazy: bool) -> None:
        text = " ".join(line.strip() for line in lines[node.lineno - 1:node.end_lineno])
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.append(Import(module, target, rel, node.lineno, node.end_lineno or node.lineno, text, lazy))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                add(child, [a.name for a in child.names], lazy)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                add(child, [f"{base}.{a.name}" for a in child.names] + [base], lazy)
            visit(child, inner)

    visit(tree, False)
    # ``from grader.rubric.exercises import EXERCISES`` and ``from grader.rubric.exercises.q06_glu import X`` both
    # name one target each: keep one edge per (line, target)
    unique = {(i.line, i.target): i for i in found}
    return list(unique.values())


ALL_IMPORTS = [i for m in MODULES for i in imports_of(m)]


def test_every_module_has_a_layer():
    missing = [MODULES[m].relative_to(ROOT).as_posix() for m in MODULES if layer_of(m) is None]
    assert not missing, f"give these modules a layer in tests/test_layers.py (LAYERS): {missing}"
    unknown = [m for members in LAYERS.values() for m in members if not m.endswith(".*") and m not in MODULES]
    assert not unknown, f"LAYERS names modules that do not exist (renamed or removed?): {unknown}"


def back_edges(imports: list[Import]) -> list[str]:
    out = []
    for i in imports:
        have, want = layer_of(i.source), layer_of(i.target)
        if have is not None and want is not None and LEVEL[want] > LEVEL[have]:
            out.append(f"{i} ({i.source} is in layer {have!r}, {i.target} in the higher layer {want!r})")
    return out


def test_no_import_runs_up_a_layer():
    found = back_edges(ALL_IMPORTS)
    assert not found, ("imports against the one-way flow; move the code that both need down a layer, or "
                       "pass it in from above:\n" + "\n".join(found))


def cycles(imports: list[Import]) -> list[list[Import]]:
    """Every loop of imports, once each (found from each strongly connected component)."""
    graph: dict[str, list[Import]] = {}
    for i in imports:
        graph.setdefault(i.source, []).append(i)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for edge in graph.get(v, []):
            w = edge.target
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    loops = []
    for component in components:
        members = set(component)
        start = component[0]
        path: list[Import] = []   # one loop through the component's first module, by depth-first search
        seen = set()

        def search(v: str) -> bool:
            for edge in graph.get(v, []):
                if edge.target == start:
                    path.append(edge)
                    return True
                if edge.target in members and edge.target not in seen:
                    seen.add(edge.target)
                    path.append(edge)
                    if search(edge.target):
                        return True
                    path.pop()
            return False

        search(start)
        loops.append(path)
    return loops


def test_no_import_cycles():
    found = cycles(ALL_IMPORTS)
    assert not found, "modules that import each other (lazily or not): break the loop by moving what both " \
                      "need into a module below them:\n" + "\n\n".join("\n".join(map(str, loop)) for loop in found)


def test_pure_layers_do_no_io():
    found = []
    for module, path in MODULES.items():
        if layer_of(module) not in PURE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n.split(".")[0] in IMPURE_MODULES]
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
                bad.append("open()")
            if bad:
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {', '.join(bad)}")
    assert not found, "the core and the rubric are pure (no files, processes or sockets):\n" + "\n".join(found)


def test_worker_program_imports_only_its_earlier_parts():
    found = []
    for n, module in enumerate(SHIPPED):
        path = MODULES[module]
        lines = path.read_text().splitlines()
        for i in imports_of(module):
            if i.target not in SHIPPED[:n]:
                found.append(f"{i} (the worker program may import only {', '.join(SHIPPED[:n]) or 'nothing'})")
            elif not all(SHIPPED_MARK in line for line in lines[i.line - 1:i.end_line]):
                found.append(f"{i} (every line of it must end with {SHIPPED_MARK!r}, or the script keeps it)")
    assert not found, "\n".join(found)


def test_worker_program_is_its_parts_in_order_and_imports_nothing_of_the_grader():
    from grader.sandbox.process import worker_source

    script = worker_source()
    firsts = [ast.get_docstring(ast.parse(MODULES[m].read_text())).splitlines()[0] for m in SHIPPED]
    positions = [script.find(first) for first in firsts]
    assert -1 not in positions and positions == sorted(positions), dict(zip(SHIPPED, positions))
    kept = [node.lineno for node in ast.walk(ast.parse(script)) if isinstance(node, (ast.Import, ast.ImportFrom))
            and any(n.split(".")[0] in PACKAGES for n in ([a.name for a in node.names] if isinstance(node, ast.Import)
                                                           else [node.module or ""]))]
    assert not kept, f"the worker program imports the grader at its lines {kept}"


def test_only_the_interfaces_import_the_grader_inside_functions():
    lazy = {(i.path, i.target): i for i in ALL_IMPORTS if i.lazy and layer_of(i.source) != "interfaces"}
    new = [str(i) for key, i in sorted(lazy.items()) if key not in LAZY_PENDING]
    assert not new, ("import these at the top of the module (lazy imports are for optional dependencies "
                     "and the command line's start-up only):\n" + "\n".join(new))
    done = sorted(LAZY_PENDING - set(lazy))
    assert not done, f"these are no longer imported lazily: remove them from LAZY_PENDING: {done}"


#: Ways of taking a call's id apart: the rubric selects calls by their tag (``Plan.select``), never by their id.
ID_PARSING = (".id.split", ".id.rsplit", ".id.partition", ".id.rpartition", ".id.startswith", ".id.endswith",
              ".id[")


def id_parsing(source: str) -> list[int]:
    """The lines of ``source`` that take a call's id apart (attribute ``id`` then a string method or a slice)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in {"split", "rsplit", "partition", "rpartition",
                                                             "startswith", "endswith"}:
            inner = node.value
        elif isinstance(node, ast.Subscript):
            inner = node.value
        else:
            continue
        if isinstance(inner, ast.Attribute) and inner.attr == "id":
            found.append(node.lineno)
    found += [n for n, line in enumerate(source.splitlines(), 1) if any(p in line for p in ID_PARSING)]
    return sorted(set(found))


def test_no_code_takes_a_call_id_apart():
    found = [f"{path.relative_to(ROOT).as_posix()}:{line}" for path in MODULES.values()
             for line in id_parsing(path.read_text())]
    assert not found, ("select calls by their tag, plan.select(func=..., tags=...), not by parsing Call.id:\n"
                       + "\n".join(found))


@pytest.mark.parametrize("line", ['c.id.split("/")[-1] in tags', "call.id.startswith('f/bad/')",
                                  "c.id.endswith('+c')", "shifted.id[:-2]", "c.id.split('/', 1)[1]"])
def test_taking_an_id_apart_is_found(line):
    assert id_parsing(f"x = [{line} for c in calls]\n" if " in " not in line else f"y = {line}\n") == [1]
    assert id_parsing("y = c.tag in tags and results[c.id].status == 'ok'\n") == []


def test_only_the_interfaces_use_click():
    found = []
    for module, path in MODULES.items():
        if layer_of(module) == "interfaces":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "click" for n in names):
                found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert not found, ("library code raises grader.core.errors.GraderError (fields and a message saying how to "
                       "fix it); the command line turns it into click's error:\n" + "\n".join(found))


# -- the test finds what it is for --------------------------------------------------------------------
def _fake(source: str, target: str, lazy: bool = False) -> Import:
    return Import(source, target, source.replace(".", "/") + ".py", 1, 1, f"import {target}", lazy)


def test_a_back_edge_is_named_with_its_file_and_import():
    (message,) = back_edges([_fake("grader.rubric.checks", "grader.pipeline.grading")])
    assert message.startswith("grader/rubric/checks.py:1: import grader.pipeline.grading")
    assert "'rubric'" in message and "'pipeline'" in message
    assert back_edges([_fake("grader.pipeline.grading", "grader.rubric.checks")]) == []


@pytest.mark.parametrize("lazy", [False, True])
def test_a_cycle_is_found_lazy_or_not(lazy):
    edges = [_fake("grader.pipeline.batch", "grader.pipeline.merge"), _fake("grader.pipeline.merge", "grader.pipeline.batch", lazy),
             _fake("grader.pipeline.batch", "grader.reports.files")]
    (loop,) = cycles(edges)
    assert {(i.source, i.target) for i in loop} == {("grader.pipeline.batch", "grader.pipeline.merge"), ("grader.pipeline.merge", "grader.pipeline.batch")}
    assert cycles(edges[:1] + edges[2:]) == []


def test_a_longer_cycle_is_shown_whole():
    edges = [_fake("grader.a", "grader.b"), _fake("grader.b", "grader.c"), _fake("grader.c", "grader.a")]
    (loop,) = cycles(edges)
    assert [i.source for i in loop] == ["grader.a", "grader.b", "grader.c"]


def readme_layers(text: str) -> list[str]:
    """The layer packages the README's "Where things are" table names, in its order."""
    import re

    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `grader/(\w+)/` \|", section, re.M)


def test_the_readme_map_is_the_tree():
    rows = readme_layers((ROOT / "README.md").read_text(encoding="utf-8"))
    assert rows == list(ORDER), (f"README.md's \"Where things are\" names the packages {rows}; the tree's layers, "
                                 f"in order, are {list(ORDER)}")


def test_a_stale_readme_map_is_found():
    table = "## Where things are\n\n| path | what |\n|---|---|\n" + "".join(f"| `grader/{m}/` | x |\n" for m in ORDER)
    assert readme_layers(table) == list(ORDER)
    assert readme_layers(table.replace("| `grader/reports/` | x |\n", "")) != list(ORDER)


def private_imports(module: str, source: str) -> list[tuple[int, str, str]]:
    """(line, module, name) of each private name (``_x``, not ``__x__``) this module imports from another."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            found += [(node.lineno, node.module, a.name) for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__") and node.module != module]
    return found


def test_no_private_name_crosses_a_module():
    found = [f"{MODULES[m].relative_to(ROOT).as_posix()}:{line}: {name} from {source}"
             for m in MODULES for line, source, name in private_imports(m, MODULES[m].read_text())]
    assert not found, ("a name another module needs is part of its module's interface: drop the underscore "
                       "(and say in its docstring what it is for):\n" + "\n".join(found))


def test_a_private_import_is_found():
    assert private_imports("grader.a", "from grader.b import _hidden, shown\n") == [(1, "grader.b", "_hidden")]
    assert private_imports("grader.a", "from grader.b import shown\nfrom os import _exit\n") == []
