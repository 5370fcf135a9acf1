"""q1: sigmoid, its derivative and tanh's derivative."""
from __future__ import annotations

import numpy as np

from grader.rubric.criteria import calls, mistakes, unmutated
from grader.rubric.exercise import Exercise
from grader.rubric.exercises.elementwise import add_elementwise_calls, any_works_gate, class_criteria, elementwise_inputs
from grader.rubric.probes import Plan, exercise_rng
from reference import forward as F
from reference import keys

NAMES = ("sigmoid", "sigmoid_derivative", "tanh_derivative")


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q1")
    inputs = elementwise_inputs(rng)
    p = Plan("q1", seed, [])
    add_elementwise_calls(p, "sigmoid", F.sigmoid, inputs)
    add_elementwise_calls(p, "sigmoid_derivative", keys.sigmoid_derivative, inputs)
    add_elementwise_calls(p, "tanh_derivative", keys.tanh_derivative, inputs)
    return p


SIGMOID_DERIVATIVE_MISTAKES = mistakes(
    (lambda x: x * (1.0 - x),
     "this is x * (1 - x): that formula takes the output s = sigmoid(x), but the argument is x; "
     "compute s = sigmoid(x) first, then s * (1 - s)."),
    (lambda x: F.sigmoid(x) * (1.0 - x),
     "this is sigmoid(x) * (1 - x): both factors use s = sigmoid(x), s * (1 - s)."),
    (lambda x: F.sigmoid(F.sigmoid(x)) * (1.0 - F.sigmoid(F.sigmoid(x))),
     "sigmoid is applied twice: s * (1 - s) with s = sigmoid(x), not with s = sigmoid(sigmoid(x))."),
    (lambda x: F.sigmoid(x),
     "this is sigmoid(x), not sigmoid(x) * (1 - sigmoid(x))."),
    (lambda x: 1.0 - F.sigmoid(x),
     "this is 1 - sigmoid(x): multiply by sigmoid(x) too."),
    (lambda x: np.exp(-x) / (1.0 + np.exp(-x)),
     "this is exp(-x) / (1 + exp(-x)) = 1 - sigmoid(x): the denominator must be squared."),
)
TANH_DERIVATIVE_MISTAKES = mistakes(
    (lambda x: 1.0 - np.tanh(x), "this is 1 - tanh(x); the derivative is 1 - tanh(x)**2."),
    (lambda x: np.tanh(x) ** 2, "this is tanh(x)**2; the derivative is 1 - tanh(x)**2."),
    (lambda x: 1.0 - x ** 2,
     "this is 1 - x**2: that formula takes the output t = tanh(x), but the argument is x; square tanh(x), not x."),
    (lambda x: 1.0 - np.tanh(np.tanh(x)) ** 2,
     "tanh is applied twice: 1 - t**2 with t = tanh(x), not with t = tanh(tanh(x))."),
)
SIGMOID_MISTAKES = mistakes(
    (lambda x: 1.0 / (1.0 + np.exp(x)), "this is sigmoid(-x): the exponent is exp(-x)."),
    (np.tanh, "this is tanh(x), not the logistic sigmoid 1 / (1 + exp(-x))."),
)

EXERCISE = Exercise(
    id="q1",
    title="Saturating activations and their derivatives",
    points=10,
    names=NAMES,
    plan=plan,
    criteria=(
        *class_criteria("sigmoid", "matches 1 / (1 + exp(-x))", (0.5, 0.75, 1.25, 0.5, 1.0), SIGMOID_MISTAKES),
        *class_criteria("sigmoid_derivative", "matches sigmoid * (1 - sigmoid)", (0.5, 0.5, 0.75, 0.25, 0.5),
                        SIGMOID_DERIVATIVE_MISTAKES),
        *class_criteria("tanh_derivative", "matches 1 - tanh**2", (0.5, 0.5, 0.75, 0.25, 0.5),
                        TANH_DERIVATIVE_MISTAKES),
        unmutated("inputs are not modified", 1.0, calls(NAMES), any_works_gate(NAMES)),
    ),
)
