"""q2: derivatives of ReLU, leaky ReLU, ELU, GELU (tanh form) and SiLU."""
from __future__ import annotations

import numpy as np
from scipy.special import erf

from grader.exercises import Exercise
from grader.exercises.elementwise import add_elementwise_calls, elementwise_inputs, unmutated_criterion, values_criterion
from grader.probes import Plan, exercise_rng
from reference import forward as F
from reference import keys

RANDOM = ("rank0", "rank1", "rank2", "rank3", "batch")
ALPHA = "-alpha"  # tag suffix of the calls that pass alpha=...
NAMES = ("relu_derivative", "leaky_relu_derivative", "elu_derivative", "gelu_derivative", "silu_derivative")


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q2")
    inputs = elementwise_inputs(rng)
    # alpha is drawn per submission, away from the defaults (alpha = 1 would hide a missing factor in ELU)
    leaky_alpha = round(float(rng.uniform(0.05, 0.3)), 3)
    elu_alpha = round(float(rng.uniform(0.2, 0.8)), 3)
    with_alpha = [(tag + ALPHA, x, label) for tag, x, label in inputs]
    p = Plan("q2", seed, [])
    with np.errstate(over="ignore", under="ignore"):  # autograd's tanh'(1000) = 1 / cosh(1000)**2 = 0
        add_elementwise_calls(p, "relu_derivative", keys.relu_derivative, inputs)
        add_elementwise_calls(p, "leaky_relu_derivative", keys.leaky_relu_derivative, inputs)
        add_elementwise_calls(p, "leaky_relu_derivative", keys.leaky_relu_derivative, with_alpha, alpha=leaky_alpha)
        add_elementwise_calls(p, "elu_derivative", keys.elu_derivative, inputs)
        add_elementwise_calls(p, "elu_derivative", keys.elu_derivative, with_alpha, alpha=elu_alpha)
        add_elementwise_calls(p, "gelu_derivative", keys.gelu_derivative, inputs)
        add_elementwise_calls(p, "silu_derivative", keys.silu_derivative, inputs)
    return p


def _quiet(f):
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    return wrapped


def _sigmoid(x):
    return np.asarray(F.sigmoid(np.asarray(x, dtype=np.float64)))


def _tanh_u(x):
    """tanh(u), u = sqrt(2/pi) * (x + 0.044715 * x**3), for the GELU mistakes."""
    return np.tanh(F.GELU_C * (x + F.GELU_K * x ** 3))


RELU_MISTAKES = [
    (lambda x: np.where(x >= 0, 1.0, 0.0),
     "this is 1 at x = 0; the contract's relu_derivative is 0 at x = 0: test x > 0, not x >= 0."),
    (lambda x: np.heaviside(x, 0.5),
     "this is 1/2 at x = 0; the contract's relu_derivative is 0 at x = 0 (np.heaviside(x, 0.0))."),
    (lambda x: np.where(x > 0, x, 0.0), "this is relu(x) itself, not its derivative."),
]
LEAKY_MISTAKES = [
    (lambda x, alpha=0.01: np.where(x > 0, 1.0, 0.01),
     "alpha is ignored: the slope for x <= 0 must be the alpha argument, not a fixed 0.01."),
    (lambda x, alpha=0.01: np.where(x >= 0, 1.0, alpha),
     "this is 1 at x = 0; the contract's derivative is alpha at x = 0: test x > 0, not x >= 0."),
    (lambda x, alpha=0.01: np.where(x > 0, 1.0, alpha * x),
     "alpha * x is leaky_relu itself for x <= 0; its derivative there is the constant alpha."),
    (lambda x, alpha=0.01: np.where(x > 0, x, alpha * x), "this is leaky_relu(x) itself, not its derivative."),
]
ELU_MISTAKES = [
    (_quiet(lambda x, alpha=1.0: np.where(x > 0, 1.0, alpha * (np.exp(x) - 1.0))),
     "alpha * (exp(x) - 1) is elu itself for x <= 0; its derivative there is alpha * exp(x)."),
    (_quiet(lambda x, alpha=1.0: np.where(x > 0, 1.0, np.exp(x))),
     "the factor alpha is missing: for x <= 0 the derivative is alpha * exp(x), not exp(x)."),
    (_quiet(lambda x, alpha=1.0: np.where(x >= 0, 1.0, alpha * np.exp(x))),
     "this is 1 at x = 0; the contract's derivative is alpha * exp(0) = alpha there: test x > 0, not x >= 0."),
    (_quiet(lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x) - 1.0))),
     "this is elu(x) itself, not its derivative."),
]
GELU_MISTAKES = [
    (_quiet(lambda x: 0.5 * (1.0 + erf(x / np.sqrt(2.0))) + x * np.exp(-0.5 * x ** 2) / np.sqrt(2.0 * np.pi)),
     "this is the derivative of the erf form of GELU; the contract uses the tanh approximation "
     "0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."),
    (_quiet(lambda x: 0.5 * (1.0 + _tanh_u(x))),
     "this is only 0.5 * (1 + tanh(u)): the product rule adds 0.5 * x * (1 - tanh(u)**2) * du/dx."),
    (_quiet(lambda x: 0.5 * (1.0 + _tanh_u(x)) + 0.5 * x * (1.0 - _tanh_u(x) ** 2) * F.GELU_C),
     "the inner derivative is incomplete: d/dx sqrt(2/pi) * (x + 0.044715 * x**3) = "
     "sqrt(2/pi) * (1 + 3 * 0.044715 * x**2)."),
    (_quiet(lambda x: np.asarray(F.gelu(x))), "this is gelu(x) itself, not its derivative."),
]
SILU_MISTAKES = [
    (_quiet(lambda x: _sigmoid(x) + x * np.exp(-x) / (1.0 + np.exp(-x)) ** 2),
     "exp(-x) overflows to inf for x <= -710 and inf / inf is nan: write the derivative with a stable "
     "sigmoid s, as s + x * s * (1 - s)."),
    (_quiet(lambda x: _sigmoid(x)),
     "this is sigmoid(x), only the first term of the product rule: add x * sigmoid(x) * (1 - sigmoid(x))."),
    (_quiet(lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
     "this is the derivative of sigmoid(x); silu(x) = x * sigmoid(x) needs the product rule."),
    (_quiet(lambda x: x * _sigmoid(x)), "this is silu(x) itself, not its derivative."),
]

RANDOM_ALPHA = RANDOM + tuple(t + ALPHA for t in RANDOM)
EDGES_ALPHA = ("edges", "edges" + ALPHA)

EXERCISE = Exercise(
    id="q2",
    title="Derivatives of the ReLU family and smooth activations",
    points=10,
    names=NAMES,
    plan=plan,
    criteria=(
        values_criterion("relu_derivative is 1 where x > 0 and 0 elsewhere, on random inputs of every rank", 1.0,
                         "relu_derivative", RELU_MISTAKES, tags=RANDOM),
        values_criterion("relu_derivative is 0 at x = 0 and right at +-1e-12, +-50, +-700, +-1000", 0.5,
                         "relu_derivative", RELU_MISTAKES, tags=("edges",), finite=True),
        values_criterion("leaky_relu_derivative on random inputs, with the default alpha and with alpha=...", 1.5,
                         "leaky_relu_derivative", LEAKY_MISTAKES, tags=RANDOM_ALPHA),
        values_criterion("leaky_relu_derivative is alpha at x = 0 and right at the edge values", 0.5,
                         "leaky_relu_derivative", LEAKY_MISTAKES, tags=EDGES_ALPHA, finite=True),
        values_criterion("elu_derivative on random inputs, with the default alpha and with alpha=...", 1.5,
                         "elu_derivative", ELU_MISTAKES, tags=RANDOM_ALPHA),
        values_criterion("elu_derivative is alpha at x = 0 and finite and right at the edge values", 0.5,
                         "elu_derivative", ELU_MISTAKES, tags=EDGES_ALPHA, finite=True),
        values_criterion("gelu_derivative is the derivative of the tanh form of GELU", 1.5,
                         "gelu_derivative", GELU_MISTAKES, finite=True),
        values_criterion("silu_derivative matches d/dx x * sigmoid(x) on random inputs of every rank", 1.0,
                         "silu_derivative", SILU_MISTAKES, tags=RANDOM),
        # not finite=True: a nan must reach the mistakes, which name the overflow that causes it
        values_criterion("silu_derivative is finite and accurate at 0, +-50, +-700, +-1000", 1.0,
                         "silu_derivative", SILU_MISTAKES, tags=("edges",)),
        unmutated_criterion(1.0, NAMES),
    ),
)
