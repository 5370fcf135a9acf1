"""Placeholders earn nothing: every trivial answer scores 0 on every exercise.

A placeholder defines every name of an exercise with the contract's signature and
returns something of the right shape that does no work: NaN, zeros, ones, a
constant, a uniform 1/n, the input itself or its copy, an identity-like matrix,
random numbers (drawn from the rng argument where there is one), a function
that raises ValueError everywhere, or a table of the contract's fixed edge
cases (the reference's values there, zeros elsewhere). Each is graded through
the same path as a real submission (``helpers.grade_source``).
"""
from __future__ import annotations

import pytest

from grader.rubric.exercises import EXERCISES
from helpers import grade_source, points

KINDS = ("nan", "zeros", "ones", "constant", "uniform", "input", "copy", "eye", "random", "raise", "table")

PRELUDE = '''
import numpy as np
from grader.rubric.probes import EDGE_VALUES
from reference import forward as F, keys

KIND = {kind!r}
_rng = np.random.default_rng(0)


def _out(shape, first=None):
    """A result of ``shape`` that does no work."""
    shape = tuple(int(n) for n in shape)
    if KIND == "raise":
        raise ValueError("not implemented yet")
    if KIND == "nan":
        return np.full(shape, np.nan)
    if KIND in ("zeros", "table"):
        return np.zeros(shape)
    if KIND == "ones":
        return np.ones(shape)
    if KIND == "constant":
        return np.full(shape, 0.25)
    if KIND == "uniform":
        return np.full(shape, 1.0 / shape[-1] if shape else 1.0)
    if KIND == "input":
        return first
    if KIND == "copy":
        return np.array(first, copy=True)
    if KIND == "eye":
        if len(shape) >= 2:
            return np.broadcast_to(np.eye(shape[-2], shape[-1]), shape).copy()
        return np.eye(1, shape[0]).ravel() if shape else np.float64(1.0)
    return _rng.random(shape)


def _fixed(x):
    """Elements of x that are one of the contract's fixed edge values."""
    return np.isin(np.asarray(x, dtype=float), EDGE_VALUES)


def _table(x, reference, *args):
    """The reference's value at the fixed edge values, 0 elsewhere."""
    x = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"):
        exact = np.asarray(reference(x, *args), dtype=float)
    return np.where(_fixed(x), exact, 0.0)


def _elementwise(reference):
    def f(x, *args, **kwargs):
        if KIND == "table":
            return _table(x, reference, *(list(args) + list(kwargs.values())))
        return _out(np.shape(x), x)
    return f


sigmoid = _elementwise(F.sigmoid)
sigmoid_derivative = _elementwise(keys.sigmoid_derivative)
tanh_derivative = _elementwise(keys.tanh_derivative)
relu_derivative = _elementwise(keys.relu_derivative)
leaky_relu_derivative = _elementwise(lambda x, alpha=0.01: keys.leaky_relu_derivative(x, alpha=alpha))
elu_derivative = _elementwise(lambda x, alpha=1.0: keys.elu_derivative(x, alpha=alpha))
gelu_derivative = _elementwise(keys.gelu_derivative)
silu_derivative = _elementwise(keys.silu_derivative)
prelu = _elementwise(F.prelu)


def collapse_affine(W1, b1, W2, b2):
    o, d = W2.shape[0], W1.shape[1]
    if KIND in ("input", "copy"):
        return _out(W1.shape, W1), _out(b1.shape, b1)
    return _out((o, d), W1), _out((o,), b1)


SOFTMAX_TABLE = [[1000.0, 999.0, 998.0], [-1000.0, -1000.0]]


def softmax(z, axis=-1):
    if KIND == "table":
        if np.ndim(z) == 1 and np.asarray(z).tolist() in SOFTMAX_TABLE:
            return np.asarray(F.softmax(np.asarray(z)))
        return np.full(np.shape(z), 1.0 / np.shape(z)[axis])
    return _out(np.shape(z), z)


def softmax_jacobian(s):
    n = np.shape(s)[0]
    if KIND in ("input", "copy"):
        return _out(np.shape(s), s)
    return _out((n, n), s)


def glu(a, b):
    if KIND == "table":
        fixed = _fixed(a) & _fixed(b)
        return np.where(fixed, np.asarray(F.glu(a, b)), 0.0)
    return _out(np.shape(a), a)


def glu_backward(a, b, grad_out):
    if KIND in ("input", "copy"):
        return _out(np.shape(a), a), _out(np.shape(b), b)
    return _out(np.shape(a), grad_out), _out(np.shape(a), grad_out)


FIXED_PAIRS = {{(400, 300), (784, 256), (1, 1), (3, 5)}}
FIXED_FAN_IN = {{200, 300, 1, 784}}


def xavier_variance(n_in, n_out):
    if KIND == "table":
        return 2.0 / (n_in + n_out) if (n_in, n_out) in FIXED_PAIRS else 0.0
    return _out((), np.float64(n_in))


def he_variance(n_in):
    if KIND == "table":
        return 2.0 / n_in if n_in in FIXED_FAN_IN else 0.0
    return _out((), np.float64(n_in))


def init_weights(n_in, n_out, scheme, rng):
    if scheme not in ("xavier", "he"):
        raise ValueError(f"unknown scheme {{scheme!r}}")
    if KIND in ("random", "table"):
        return rng.standard_normal((n_in, n_out)) * 0.1
    return _out((n_in, n_out), np.full((n_in, n_out), float(n_in)))


def dead_relu_units(preacts, threshold=0.01):
    n = np.shape(preacts)[1]
    if KIND == "input":
        return preacts
    if KIND == "copy":
        return np.array(preacts[0] > 0, copy=True)
    if KIND in ("zeros", "table"):
        return np.zeros(n, dtype=bool)
    if KIND == "ones":
        return np.ones(n, dtype=bool)
    if KIND == "random":
        return _rng.random(n) < 0.5
    return _out((n,), preacts[0])


def prelu_backward(x, alpha, grad_out):
    if KIND == "table":
        return _table(x, lambda v, a: np.where(v > 0, 1.0, a), alpha) * grad_out, 0.0
    if KIND in ("input", "copy"):
        return _out(np.shape(x), x), _out((), np.float64(alpha))
    return _out(np.shape(x), grad_out), _out((), np.float64(alpha))


def layer_gradient_norms(weights, x, y, activation):
    if activation not in ("sigmoid", "relu"):
        raise ValueError(f"unknown activation {{activation!r}}")
    L = len(weights)
    if KIND == "input":
        return np.array([np.linalg.norm(W) for W in weights])
    if KIND == "table":
        return np.logspace(-6, 0, L) if activation == "sigmoid" else np.ones(L)
    return _out((L,), np.arange(L, dtype=float))
'''


def placeholder(kind: str) -> str:
    return PRELUDE.format(kind=kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("q", list(EXERCISES))
def test_a_placeholder_scores_nothing(q, kind):
    results = grade_source(q, placeholder(kind), seed=3)
    earned = {r.name: r.points for r in results if r.points}
    assert points(results) == 0, earned


@pytest.mark.parametrize("q", list(EXERCISES))
def test_the_best_placeholder_per_criterion_scores_nothing(q):
    """Choosing, criterion by criterion, the placeholder that does best still earns 0."""
    best: dict[str, float] = {}
    for kind in KINDS:
        for r in grade_source(q, placeholder(kind), seed=4):
            best[r.name] = max(best.get(r.name, 0.0), r.points)
    assert sum(best.values()) == 0, {name: p for name, p in best.items() if p}


def test_a_constant_init_weights_costs_only_its_criteria_through_the_whole_pipeline():
    """Graded like a real submission (sandboxed worker, scoring, record): status graded, not error."""
    from conftest import GOLDEN
    from grader.pipeline.grading import grade
    from grader.pipeline.tasks import Options
    from grader.pipeline.warm import close_workers
    from grader.sandbox.process import Limits

    source = (GOLDEN / "solution.py").read_text() + (
        "\n\ndef init_weights(n_in, n_out, scheme, rng):\n"
        "    if scheme not in ('xavier', 'he'):\n"
        "        raise ValueError(scheme)\n"
        "    return np.full((n_in, n_out), 0.01)\n")
    options = Options(seed=5, limits=Limits(timeout=40, step_timeout=3))
    try:
        record = grade({"name": "constant.py", "content": source.encode(), "options": options.to_dict()})
    finally:
        close_workers()
    assert record["status"] == "graded"
    lost = {c["name"] for c in record["exercises"]["q7"]["criteria"] if c["points"] < c["max_points"]}
    assert all("init_weights" in name for name in lost) and record["exercises"]["q7"]["score"] == 2
    assert record["score"] == 94
