"""Every answer the project's tests know, per exercise: the correct forms and the mistakes.

Collected from where the tests keep them, so that a mutation added to an exercise's test is
graded by the seed-stability test too, without a copy here:

- each exercise test's correct implementations (the parameters of its
  ``test_correct_implementations_get_full_marks``) and its ``WRONG`` table of realistic mistakes
  (q1's are the parameters of ``test_realistic_mistakes_lose_their_criteria_with_a_hint``);
- the tables of recognised mistakes the exercise tests graded as functions (q2's ``MISTAKES``,
  q3's ``C_MISTAKES``, q4's ``RECOGNISED``, q5's ``MISTAKES``) and q1's float32 and scalar-only
  answers;
- the golden solution and its variants (``tests/variants.py``), exercise by exercise;
- the benchmark's class of single mistakes (``benchmarks/workload.py``);
- other correct algebraic forms (the sigmoid through tanh, or clipped ``exp(x) / (1 + exp(x))``);
- a float32 version of every exercise, and the systematic errors of the seed-stability issue
  (float32 gates and constants, rounded constants).

An answer is ``(exercise, label, kind, namespace)``: ``kind`` is "correct" (full marks on every
seed) or "wrong" (the same verdicts on every seed, whatever they are).
"""
from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from grader.rubric.exercises import EXERCISES
from grader.rubric.exercises import q01_saturating as q1
from helpers import namespace_of
from variants import SOLUTION, VARIANTS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


class Answer(NamedTuple):
    exercise: str
    label: str
    kind: str  # "correct" or "wrong"
    make: Callable[[], dict[str, Any]]  # a fresh namespace (a call may keep state in it)


def _module(q: str):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(f"test_exercise_{q}")


def _parameters(function: Any, argname: str) -> list:
    """The values of ``argname`` in the parametrize marks of a test function."""
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0].replace(" ", "").split(",")[0] == argname:
            return list(mark.args[1])
    raise LookupError(f"{function.__name__} has no parameter {argname!r}")


def _source(src: str) -> Callable[[], dict[str, Any]]:
    return lambda: namespace_of(src)


def _with(base: str, func: str, value: Callable) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        ns = namespace_of(base)
        ns[func] = value
        return ns
    return make


#: How a q2-q5 WRONG entry becomes a whole submission (q6-q10 hold whole sources).
_WRAP = {"q2": lambda m, body: m.replacing(m.WITH_WHERE, body), "q3": lambda m, body: m.wrong(body),
         "q4": lambda m, body: m.softmax_with(body), "q5": lambda m, body: m.jacobian_as(body)}


def exercise_tests() -> Iterator[Answer]:
    """The correct forms and the mistakes of every exercise test."""
    for q in EXERCISES:
        m = _module(q)
        for i, src in enumerate(_parameters(m.test_correct_implementations_get_full_marks, "source")):
            yield Answer(q, f"{q} test: correct form {i + 1}", "correct", _source(src))
        if q == "q1":
            cases = _parameters(m.test_realistic_mistakes_lose_their_criteria_with_a_hint, "func")
            for func, body, *_ in cases:
                yield Answer(q, f"q1 test: {func} = {body!r}", "wrong", _source(m.with_body(func, body)))
            yield Answer(q, "q1 test: FLOAT32", "wrong", _source(m.FLOAT32))
            yield Answer(q, "q1 test: SCALAR_ONLY", "wrong", _source(m.SCALAR_ONLY))
            for func, table in zip(q1.NAMES, (q1.SIGMOID_MISTAKES, q1.SIGMOID_DERIVATIVE_MISTAKES,
                                               q1.TANH_DERIVATIVE_MISTAKES)):
                for j, (formula, _) in enumerate(table):
                    yield Answer(q, f"q1 recognised mistake {func} {j}", "wrong", _with(m.STABLE, func, formula))
            continue
        for name, entry in m.WRONG.items():
            src = _WRAP[q](m, entry[0]) if q in _WRAP else entry[0]
            yield Answer(q, f"{q} test: {name}", "wrong", _source(src))
        if q == "q2":
            for j, (func, formula, _) in enumerate(m.MISTAKES):
                yield Answer(q, f"q2 recognised mistake {j} ({func})", "wrong", _with(m.WITH_WHERE, func, formula))
        if q == "q3":
            for j, (formula, _) in enumerate(m.q3.C_MISTAKES):
                yield Answer(q, f"q3 recognised mistake {j}", "wrong", _with(
                    m.PRODUCTS, "collapse_affine", lambda W1, b1, W2, b2, f=formula: (W2 @ W1, f(W1, b1, W2, b2))))
        if q == "q4":
            for j, (formula, _) in enumerate(m.RECOGNISED):
                yield Answer(q, f"q4 recognised mistake {j}", "wrong", _with(m.MAX_SHIFT, "softmax", formula))
        if q == "q5":
            for j, (formula, _) in enumerate(m.q5.MISTAKES):
                yield Answer(q, f"q5 recognised mistake {j}", "wrong", _with(m.OUTER, "softmax_jacobian", formula))


def names_of(q: str) -> tuple[str, ...]:
    return EXERCISES[q].names


def _cells_of(source: str) -> list[str]:
    return [c for c in source.split("# %%") if c.strip()]


def _loops_at_top_level(cell: str) -> bool:
    try:
        return any(isinstance(node, ast.While) for node in ast.parse(cell).body)
    except SyntaxError:
        return False


def _jupyter_namespace(source: str) -> dict[str, Any]:
    """The namespace after running ``source``'s cells in order, as Jupyter does: a failing cell (or one
    that calls sys.exit) does not stop the next ones; a cell that loops at top level, which the sandbox
    stops after its time, is left out here."""
    ns: dict[str, Any] = {"__name__": "__main__"}
    for cell in _cells_of(source):
        if _loops_at_top_level(cell):
            continue
        try:
            exec(compile(cell, "<cell>", "exec"), ns)
        except (Exception, SystemExit):
            pass
    return ns


#: What a variant's function does that cannot run in this process (end the process, loop for ever): the
#: sandboxed pipeline grades those exercises (``tests/golden/expected.json``); their other exercises are
#: graded here.
_OUT_OF_PROCESS = ("os._exit", "while True")


def golden_variants() -> Iterator[Answer]:
    """The golden solution and each variant of ``tests/variants.py``, exercise by exercise."""
    solution = SOLUTION.read_text()
    for q in EXERCISES:
        yield Answer(q, f"golden solution {q}", "correct", _source(solution))
    for variant in VARIANTS:
        source = variant.source(solution)
        for q in EXERCISES:
            defining = [c for c in _cells_of(source) if any(f"def {n}(" in c for n in names_of(q))]
            functions = [f for c in defining for f in c.split("\ndef ") if any(f.startswith(f"{n}(") for n in
                                                                              names_of(q))]
            if any(marker in f for f in functions for marker in _OUT_OF_PROCESS):
                continue
            yield Answer(q, f"{variant.name} {q}", "wrong", lambda source=source: _jupyter_namespace(source))


def benchmark_mistakes() -> Iterator[Answer]:
    """Each single mistake of the benchmark's class, applied to the golden solution."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        workload = importlib.import_module("workload")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    solution = SOLUTION.read_text()
    for good, bad in workload.MISTAKES:
        assert solution.count(good) == 1, good
        source = solution.replace(good, bad)
        for q in EXERCISES:
            if any(f"def {n}(" in c and good in c for c in _cells_of(solution) for n in names_of(q)):
                yield Answer(q, f"benchmark mistake {bad.strip()[:50]!r}", "wrong", _source(source))


# --- float32 -----------------------------------------------------------------------------------------
FLOAT32_PRELUDE = '''
import functools as _functools
import numpy as _np


def _to32(value):
    if isinstance(value, _np.ndarray) and value.dtype == _np.float64:
        return value.astype(_np.float32)
    if isinstance(value, list):
        return [_to32(v) for v in value]
    if isinstance(value, float):
        return _np.float32(value)
    return value


def _out32(value):
    if isinstance(value, tuple):
        return tuple(_out32(v) for v in value)
    if isinstance(value, list):
        return [_out32(v) for v in value]
    if isinstance(value, (_np.ndarray, _np.floating, float)) and _np.asarray(value).dtype.kind == "f":
        return _np.asarray(value, dtype=_np.float32)
    return value


def float32(func):
    """func computed on float32 inputs, its floats returned as float32 (as a GPU kernel does)."""
    @_functools.wraps(func)
    def wrapped(*args, **kwargs):
        return _out32(func(*[_to32(a) for a in args], **{k: _to32(v) for k, v in kwargs.items()}))
    return wrapped
'''


def float32_source(q: str) -> str:
    """The golden solution's functions of ``q``, in float32 arithmetic from input to output."""
    source = SOLUTION.read_text().replace("dtype=float)", "dtype=np.float32)")
    source = re.sub(r"np\.sqrt\(2\.0 / np\.pi\)", "np.float32(np.sqrt(2.0 / np.pi))", source)
    wrap = "\n".join(f"{n} = float32({n})" for n in names_of(q) if f"def {n}(" in source)
    return FLOAT32_PRELUDE + source + "\n\n" + wrap + "\n"


def float32_versions() -> Iterator[Answer]:
    for q in EXERCISES:
        yield Answer(q, f"float32 version of {q}", "wrong", _source(float32_source(q)))


def systematic_errors() -> Iterator[Answer]:
    """The seed-dependent verdicts that issue 22 measured, and their kin: float32 in one place, rounded
    constants, an ignored argument."""
    solution = SOLUTION.read_text()

    def edit(q: str, label: str, old: str, new: str) -> Answer:
        src = solution
        assert src.count(old) == 1, (label, old)
        return Answer(q, label, "wrong", _source(src.replace(old, new)))

    yield edit("q1", "sigmoid in float32", "x = np.asarray(x, dtype=float)\n    e = np.exp(-np.abs(x))",
               "x = np.asarray(x, dtype=np.float32)\n    e = np.exp(-np.abs(x))")
    yield edit("q1", "tanh_derivative in float32", "return 1.0 - np.tanh(x) ** 2",
               "return 1.0 - np.tanh(np.float32(x)) ** 2")
    yield edit("q2", "GELU constant sqrt(2/pi) rounded to float32", "c = np.sqrt(2.0 / np.pi)",
               "c = np.float32(np.sqrt(2.0 / np.pi))")
    yield edit("q2", "GELU constant sqrt(2/pi) to 6 digits", "c = np.sqrt(2.0 / np.pi)", "c = 0.797885")
    yield edit("q2", "GELU constant 0.044715 rounded to float32", "u = c * (x + 0.044715 * x**3)",
               "u = c * (x + np.float32(0.044715) * x**3)")
    yield edit("q2", "silu_derivative in float32", "s = sigmoid(x)\n    return s * (1.0 + np.asarray(x)",
               "s = sigmoid(x).astype(np.float32)\n    return s * (1.0 + np.asarray(x)")
    yield edit("q6", "GLU gate in float32", "return a * sigmoid(b)",
               "return a * sigmoid(np.asarray(b, dtype=np.float32)).astype(np.float32)")
    yield edit("q6", "GLU backward gate in float32", "s = sigmoid(b)\n    return grad_out",
               "s = sigmoid(b).astype(np.float32)\n    return grad_out")
    yield edit("q4", "softmax exponentials in float32", "e = np.exp(z - np.max(z, axis=axis, keepdims=True))",
               "e = np.exp((z - np.max(z, axis=axis, keepdims=True)).astype(np.float32))")
    yield edit("q5", "softmax_jacobian in float32", "s = np.asarray(s, dtype=float)",
               "s = np.asarray(s, dtype=np.float32)")
    yield edit("q3", "collapse_affine in float32", "return W2 @ W1, W2 @ b1 + b2",
               "W1, W2 = W1.astype(np.float32), W2.astype(np.float32)\n    return W2 @ W1, W2 @ b1 + b2")
    yield edit("q8", "dead_relu_units ignores its threshold (never active)",
               "return np.mean(preacts > 0, axis=0) < threshold", "return np.all(preacts <= 0, axis=0)")
    yield edit("q8", "dead_relu_units fraction in float32",
               "return np.mean(preacts > 0, axis=0) < threshold",
               "return np.mean(preacts > 0, axis=0, dtype=np.float32) < threshold")
    yield edit("q9", "prelu_backward grad_alpha in float32",
               "grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))",
               "grad_alpha = float(np.sum((grad_out * np.where(x > 0, 0.0, x)).astype(np.float32)))")
    yield edit("q10", "layer_gradient_norms backward in float32", "delta = (out - y) / x.shape[0]",
               "delta = ((out - y) / x.shape[0]).astype(np.float32)")
    yield edit("q10", "layer_gradient_norms sigmoid' from the output", "lambda h: sigmoid(h) * (1 - sigmoid(h))",
               "lambda h: h * (1 - h)")
    yield edit("q7", "xavier_variance in float32", "return 2.0 / (n_in + n_out)",
               "return np.float32(2.0) / np.float32(n_in + n_out)")


#: Correct float64 forms the exercise tests do not write out: other algebraic forms of the sigmoid, which
#: cancel or round differently (the tanh identity loses all relative accuracy for x << 0, where atol covers it).
TANH_SIGMOID = """
import numpy as np

def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))

def sigmoid_derivative(x):
    return 0.25 / np.cosh(0.5 * np.asarray(x, dtype=float)) ** 2

def tanh_derivative(x):
    t = np.tanh(x)
    return 1.0 - t * t
"""
CLIPPED_SIGMOID = """
import numpy as np

def sigmoid(x):
    e = np.exp(np.clip(x, -500.0, 500.0))
    return e / (1.0 + e)

def sigmoid_derivative(x):
    e = np.exp(-np.abs(np.clip(x, -500.0, 500.0)))
    return e / (1.0 + e) ** 2

def tanh_derivative(x):
    return 1.0 / np.cosh(np.clip(x, -300.0, 300.0)) ** 2
"""
OTHER_FORMS = {
    "q1": (TANH_SIGMOID, CLIPPED_SIGMOID),
    "q2": ("""
import numpy as np
from scipy.special import expit

def relu_derivative(x):
    return (np.asarray(x) > 0).astype(float)

def leaky_relu_derivative(x, alpha=0.01):
    return np.where(np.asarray(x) > 0, 1.0, alpha)

def elu_derivative(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(np.where(x > 0, 0.0, x)))

def gelu_derivative(x):
    x = np.asarray(x, dtype=float)
    k = np.sqrt(2.0 / np.pi)
    u = k * (x + 0.044715 * x ** 3)
    return 0.5 * (1.0 + np.tanh(u)) + 0.5 * x * k * (1.0 + 0.134145 * x ** 2) / np.cosh(np.clip(u, -300, 300)) ** 2

def silu_derivative(x):
    s = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))
    return s * (1.0 + x * (1.0 - s))
""",),
    "q6": ("""
import numpy as np

def glu(a, b):
    return a * 0.5 * (1.0 + np.tanh(0.5 * b))

def glu_backward(a, b, grad_out):
    s = 0.5 * (1.0 + np.tanh(0.5 * b))
    return grad_out * s, grad_out * a * 0.25 / np.cosh(0.5 * np.clip(b, -600, 600)) ** 2
""",),
}


def other_forms() -> Iterator[Answer]:
    for q, sources in OTHER_FORMS.items():
        for i, src in enumerate(sources):
            yield Answer(q, f"{q} other correct form {i + 1}", "correct", _source(src))


def every_answer() -> list[Answer]:
    return [*exercise_tests(), *other_forms(), *golden_variants(), *benchmark_mistakes(), *float32_versions(),
            *systematic_errors()]
