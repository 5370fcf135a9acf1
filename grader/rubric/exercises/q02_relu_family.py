"""q2: derivatives of ReLU, leaky ReLU, ELU, GELU (tanh form) and SiLU."""
from __future__ import annotations

import numpy as np
from scipy.special import erf

from grader.rubric.criteria import calls, each_call, mistakes, unmutated
from grader.rubric.exercise import Exercise
from grader.rubric.exercises.elementwise import (EDGE_CLASSES, RANDOM_CLASSES, add_elementwise_calls, any_works_gate,
                                          class_criteria, elementwise_inputs, one_value, works_gate)
from grader.rubric.probes import Plan, exercise_rng
from reference import forward as F
from reference import keys

ALPHA = "-alpha"  # id suffix of the calls that pass alpha=...
NAMES = ("relu_derivative", "leaky_relu_derivative", "elu_derivative", "gelu_derivative", "silu_derivative")


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q2")
    inputs = elementwise_inputs(rng)
    # alpha is drawn per submission, away from the defaults (alpha = 1 would hide a missing factor in ELU)
    leaky_alpha = round(float(rng.uniform(0.05, 0.3)), 3)
    elu_alpha = round(float(rng.uniform(0.2, 0.8)), 3)
    p = Plan("q2", seed, [])
    with np.errstate(over="ignore", under="ignore"):  # autograd's tanh'(1000) = 1 / cosh(1000)**2 = 0
        add_elementwise_calls(p, "relu_derivative", keys.relu_derivative, inputs)
        add_elementwise_calls(p, "leaky_relu_derivative", keys.leaky_relu_derivative, inputs)
        add_elementwise_calls(p, "leaky_relu_derivative", keys.leaky_relu_derivative, inputs, ALPHA,
                              alpha=leaky_alpha)
        add_elementwise_calls(p, "elu_derivative", keys.elu_derivative, inputs)
        add_elementwise_calls(p, "elu_derivative", keys.elu_derivative, inputs, ALPHA, alpha=elu_alpha)
        add_elementwise_calls(p, "gelu_derivative", keys.gelu_derivative, inputs)
        add_elementwise_calls(p, "silu_derivative", keys.silu_derivative, inputs)
    return p


def _sigmoid(x):
    return np.asarray(F.sigmoid(np.asarray(x, dtype=np.float64)))


def _tanh_u(x):
    """tanh(u), u = sqrt(2/pi) * (x + 0.044715 * x**3), for the GELU mistakes."""
    return np.tanh(F.GELU_C * (x + F.GELU_K * x ** 3))


RELU_MISTAKES = mistakes(
    (lambda x: np.where(x >= 0, 1.0, 0.0),
     "this is 1 at x = 0; the contract's relu_derivative is 0 at x = 0: test x > 0, not x >= 0."),
    (lambda x: np.heaviside(x, 0.5),
     "this is 1/2 at x = 0; the contract's relu_derivative is 0 at x = 0 (np.heaviside(x, 0.0))."),
    (lambda x: np.where(x > 0, x, 0.0), "this is relu(x) itself, not its derivative."),
)
LEAKY_MISTAKES = mistakes(
    (lambda x, alpha=0.01: np.where(x > 0, 1.0, 0.01),
     "alpha is ignored: the slope for x <= 0 must be the alpha argument, not a fixed 0.01."),
    (lambda x, alpha=0.01: np.where(x >= 0, 1.0, alpha),
     "this is 1 at x = 0; the contract's derivative is alpha at x = 0: test x > 0, not x >= 0."),
    (lambda x, alpha=0.01: np.where(x > 0, 1.0, alpha * x),
     "alpha * x is leaky_relu itself for x <= 0; its derivative there is the constant alpha."),
    (lambda x, alpha=0.01: np.where(x > 0, x, alpha * x), "this is leaky_relu(x) itself, not its derivative."),
)
ELU_MISTAKES = mistakes(
    (lambda x, alpha=1.0: np.where(x > 0, 1.0, alpha * (np.exp(x) - 1.0)),
     "alpha * (exp(x) - 1) is elu itself for x <= 0; its derivative there is alpha * exp(x)."),
    (lambda x, alpha=1.0: np.where(x > 0, 1.0, np.exp(x)),
     "the factor alpha is missing: for x <= 0 the derivative is alpha * exp(x), not exp(x)."),
    (lambda x, alpha=1.0: np.where(x >= 0, 1.0, alpha * np.exp(x)),
     "this is 1 at x = 0; the contract's derivative is alpha * exp(0) = alpha there: test x > 0, not x >= 0."),
    (lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x) - 1.0)),
     "this is elu(x) itself, not its derivative."),
)
GELU_MISTAKES = mistakes(
    (lambda x: 0.5 * (1.0 + erf(x / np.sqrt(2.0))) + x * np.exp(-0.5 * x ** 2) / np.sqrt(2.0 * np.pi),
     "this is the derivative of the erf form of GELU; the contract uses the tanh approximation "
     "0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."),
    (lambda x: 0.5 * (1.0 + _tanh_u(x)),
     "this is only 0.5 * (1 + tanh(u)): the product rule adds 0.5 * x * (1 - tanh(u)**2) * du/dx."),
    (lambda x: 0.5 * (1.0 + _tanh_u(x)) + 0.5 * x * (1.0 - _tanh_u(x) ** 2) * F.GELU_C,
     "the inner derivative is incomplete: d/dx sqrt(2/pi) * (x + 0.044715 * x**3) = "
     "sqrt(2/pi) * (1 + 3 * 0.044715 * x**2)."),
    (lambda x: np.asarray(F.gelu(x)), "this is gelu(x) itself, not its derivative."),
)
SILU_MISTAKES = mistakes(
    (lambda x: _sigmoid(x) + x * np.exp(-x) / (1.0 + np.exp(-x)) ** 2,
     "exp(-x) overflows to inf for x <= -710 and inf / inf is nan: write the derivative with a stable "
     "sigmoid s, as s + x * s * (1 - s)."),
    (lambda x: _sigmoid(x),
     "this is sigmoid(x), only the first term of the product rule: add x * sigmoid(x) * (1 - sigmoid(x))."),
    (lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)),
     "this is the derivative of sigmoid(x); silu(x) = x * sigmoid(x) needs the product rule."),
    (lambda x: x * _sigmoid(x), "this is silu(x) itself, not its derivative."),
)


def with_alpha(func: str, what: str, random_points: float, edge_points: float, table) -> tuple:
    """The calls that pass alpha=...: one criterion for the random inputs, one (gated) for the edges."""
    return (each_call(f"{func}(x, alpha=...) {what} on random inputs of every rank", random_points,
                      calls(func, RANDOM_CLASSES, with_kwargs=True), one_value(table)),
            each_call(f"{func}(x, alpha=...) is finite and right at the edge values", edge_points,
                      calls(func, EDGE_CLASSES, with_kwargs=True), one_value(table, finite=True),
                      works_gate(func, table)))


EXERCISE = Exercise(
    id="q2",
    title="Derivatives of the ReLU family and smooth activations",
    points=10,
    names=NAMES,
    plan=plan,
    criteria=(
        *class_criteria("relu_derivative", "is 1 where x > 0 and 0 elsewhere", (0.25, 0.25, 0.5, 0.25, 0.25),
                        RELU_MISTAKES),
        *class_criteria("leaky_relu_derivative", "is 1 where x > 0 and alpha elsewhere",
                        (0.25, 0.25, 0.25, 0.25, 0.25), LEAKY_MISTAKES, with_kwargs=False),
        *with_alpha("leaky_relu_derivative", "is 1 where x > 0 and alpha elsewhere", 0.5, 0.25, LEAKY_MISTAKES),
        *class_criteria("elu_derivative", "is 1 where x > 0 and alpha * exp(x) elsewhere",
                        (0.25, 0.25, 0.25, 0.25, 0.25), ELU_MISTAKES, with_kwargs=False),
        *with_alpha("elu_derivative", "is 1 where x > 0 and alpha * exp(x) elsewhere", 0.5, 0.25, ELU_MISTAKES),
        *class_criteria("gelu_derivative", "is the derivative of the tanh form of GELU",
                        (0.25, 0.25, 0.5, 0.25, 0.25), GELU_MISTAKES),
        # not finite: a nan must reach the mistakes, which name the overflow that causes it
        *class_criteria("silu_derivative", "matches d/dx x * sigmoid(x)", (0.25, 0.25, 0.5, 0.25, 0.75),
                        SILU_MISTAKES, finite_edges=False),
        unmutated("inputs are not modified", 1.0, calls(NAMES), any_works_gate(NAMES)),
    ),
)
