"""q10: per-layer gradient norms of a deep sigmoid or ReLU network.

``layer_gradient_norms(weights, x, y, activation)`` returns the Frobenius norm of
d loss / d weights[l] for every layer, input to output, for the network and loss
of the contract. The answer key is autograd's gradient of
``reference.forward.mlp_loss`` (``keys.layer_gradient_norms``).

The plan covers depths 2, 3, 6 and 10, both activations, batches of 3 to 8
rows, the contract's Xavier-initialised sigmoid and He-initialised ReLU stacks
of depth 10, and a ReLU network with integer inputs and weights, where some
pre-activations are exactly 0 and the derivative there (0) changes the norms.
An unknown activation must raise ValueError.

Known wrong answers are modelled, for the hints only, by the same autograd
gradient of a wrong loss or forward pass (output activation, relu'(0) = 1), or
by a simple transformation of the correct gradients.
"""
from __future__ import annotations

from typing import Callable, Sequence

import autograd.numpy as anp
import numpy as np
from autograd import grad

from grader.rubric.checks import PropertyViolated, Results, WrongShape, assert_close, assert_finite, result
from grader.rubric.criteria import calls, each_call, known, mistakes, raises_value_error, unmutated, works
from grader.rubric.gates import gated
from grader.rubric.runner import Criterion
from grader.rubric.exercise import Exercise
from grader.rubric.probes import Call, Plan, exercise_rng
from reference import forward as F
from reference import keys

FUNC = "layer_gradient_norms"
BAD_ACTIVATIONS = ("tanh", "linear")
#: Tags of the calls: networks of depth 2 and 3 ("shallow") and 6 and 10 ("deep") of each activation, the
#: integer ReLU network, and the unknown activations.
SIGMOID = ("sigmoid-shallow", "sigmoid-deep")
RELU = ("relu-shallow", "relu-deep")
KINK, BAD = ("kink",), "bad"
NORMS = SIGMOID + RELU + KINK
#: Xavier sigmoid stack of depth 10: first norm below this fraction of the last (observed: ~1e-6).
VANISHING_RATIO = 1e-3
#: He ReLU stack of depth 10: first norm above this fraction of the last (observed: ~0.5 to 5).
HEALTHY_RATIO = 1e-2
#: The integer-valued ReLU case must move some norm by this relative amount when relu'(0) = 1.
KINK_EFFECT = 1e-3


# --- wrong models, for hints (autograd on a wrong forward pass, never a hand-written backward) -------
def _relu_ge(z):
    """ReLU whose derivative at 0 is 1 (the branch z >= 0 is taken at 0)."""
    return anp.where(z >= 0, z, 0.0 * z)


def _wrong_gradients(weights, x, y, activation, *, output_activation=False, relu_at_zero_one=False):
    act = _relu_ge if (activation == "relu" and relu_at_zero_one) else F.ACTIVATIONS[activation]

    def loss(ws):
        h = x
        for W in ws[:-1]:
            h = act(anp.dot(h, W))
        out = anp.dot(h, ws[-1])
        if output_activation:
            out = act(out)
        return 0.5 * anp.sum((out - y) ** 2) / x.shape[0]

    return [np.asarray(g) for g in grad(loss)(list(weights))]


def _norms(grads) -> np.ndarray:
    return np.array([np.linalg.norm(g) for g in grads])


def relu_at_zero_one_norms(weights, x, y, activation):
    return _norms(_wrong_gradients(weights, x, y, activation, relu_at_zero_one=True))


# Arguments: weights, x, y, activation, the correct norms.
MISTAKES = mistakes(
    (lambda w, x, y, a, key: key * x.shape[0],
     "the norms are batch times too large: the loss is 0.5 * sum((output - y)**2) / batch, divide by batch."),
    (lambda w, x, y, a, key: key * 2.0,
     "the norms are twice too large: the loss has a factor 0.5, so d loss / d output = (output - y) / batch."),
    (lambda w, x, y, a, key: key[::-1], "the norms are in reverse order: return them from weights[0] (input) "
                                        "to weights[-1] (output)."),
    (lambda w, x, y, a, key: _norms(_wrong_gradients(w, x, y, a, output_activation=True)),
     "you applied the activation to the output layer too; the output is h @ W_last with no activation."),
    (lambda w, x, y, a, key: relu_at_zero_one_norms(w, x, y, a),
     "you used relu'(0) = 1; the ReLU derivative is 0 at 0: use (z > 0), not (z >= 0)."),
    (lambda w, x, y, a, key: np.array([np.mean(np.abs(g)) for g in keys.weight_gradients(w, x, y, a)]),
     "this is the mean of |gradient|; return the Frobenius norm, np.linalg.norm(grad) = sqrt(sum(grad**2))."),
    (lambda w, x, y, a, key: np.array([np.mean(g) for g in keys.weight_gradients(w, x, y, a)]),
     "this is the mean of the gradient; return the Frobenius norm, np.linalg.norm(grad) = sqrt(sum(grad**2))."),
    (lambda w, x, y, a, key: np.array([np.sqrt(np.mean(g**2)) for g in keys.weight_gradients(w, x, y, a)]),
     "this is the root mean square; the Frobenius norm is sqrt(sum(grad**2)), not divided by the size."),
    (lambda w, x, y, a, key: key**2, "these are the squared norms: take the square root, np.linalg.norm(grad)."),
)


# --- the plan ------------------------------------------------------------------------------------
def _network(rng: np.random.Generator, widths: Sequence[int], batch: int, std: Callable[[int, int], float],
             activation: str = "sigmoid"):
    weights = [rng.normal(0.0, std(a, b), size=(a, b)) for a, b in zip(widths[:-1], widths[1:])]
    x = rng.normal(0.0, 1.0, size=(batch, widths[0]))
    y = rng.normal(0.0, 1.0, size=(batch, widths[-1]))
    return _some_negative_output(weights, x, activation), x, y


def _some_negative_output(weights: list, x: np.ndarray, activation: str) -> list:
    """``weights``, with the last matrix negated if no output of the ReLU network is negative.

    A ReLU applied to the output layer too (a known mistake) changes nothing where every output is > 0,
    which a small network's draw allows (a hidden layer of 2 units, both output weights positive): the
    mistake would then pass on some draws only. Negating the last matrix, itself a normal draw, makes
    every output <= 0 and some < 0. A sigmoid changes every output anyway."""
    if activation != "relu" or np.any(np.asarray(F.mlp_forward(weights, x, activation)) < 0):
        return weights
    return [*weights[:-1], -weights[-1]]


def _xavier(a: int, b: int) -> float:
    return float(np.sqrt(F.xavier_variance(a, b)))


def _he(a: int, b: int) -> float:
    return float(np.sqrt(F.he_variance(a)))


def _integer_relu_network(rng: np.random.Generator):
    """Integer inputs and weights (every product and sum is exact): some pre-activations are exactly 0.

    Redrawn until relu'(0) = 1 would change some norm by more than KINK_EFFECT, and so would a ReLU on the
    output layer (a network whose outputs are all > 0 would hide that mistake on some draws only).
    """
    for _ in range(100):
        widths = [int(n) for n in rng.integers(3, 6, size=4)]
        batch = int(rng.integers(3, 6))
        weights = [rng.integers(-1, 2, size=(a, b)).astype(np.float64) for a, b in zip(widths[:-1], widths[1:])]
        x = rng.integers(-2, 3, size=(batch, widths[0])).astype(np.float64)
        y = rng.normal(0.0, 1.0, size=(batch, widths[-1]))
        key = keys.layer_gradient_norms(weights, x, y, "relu")
        wrong = (relu_at_zero_one_norms(weights, x, y, "relu"),
                 _norms(_wrong_gradients(weights, x, y, "relu", output_activation=True)))
        if all(np.max(np.abs(w - key) / np.maximum(np.abs(key), 1e-300)) > KINK_EFFECT for w in wrong):
            return weights, x, y, widths, batch
    raise RuntimeError("no integer ReLU network with an effective kink was found")  # pragma: no cover


def _cases(rng: np.random.Generator) -> list[tuple[str, str, str, list, np.ndarray, np.ndarray, str]]:
    """(name, tag, activation, weights, x, y, label) for every probe that must return norms."""
    out = []
    for activation in ("sigmoid", "relu"):
        for depth, lo, hi in ((2, 2, 7), (3, 3, 9), (6, 4, 11)):
            widths = [int(n) for n in rng.integers(lo, hi, size=depth + 1)]
            batch = int(rng.integers(3, 9))
            std = _xavier if activation == "sigmoid" else _he
            scale = float(rng.uniform(1.0, 2.0)) if depth < 6 else 1.0
            weights, x, y = _network(rng, widths, batch, lambda a, b: scale * std(a, b), activation)
            out.append((f"{activation}/L{depth}", f"{activation}-{'deep' if depth >= 6 else 'shallow'}", activation,
                        weights, x, y,
                        f"{depth} layers of widths {widths}, a batch of {batch}"))
    for activation, std, init in (("sigmoid", _xavier, "Xavier"), ("relu", _he, "He")):
        widths = [int(n) for n in rng.integers(16, 33, size=11)]
        weights, x, y = _network(rng, widths, 8, std, activation)
        out.append((f"{activation}/deep", f"{activation}-deep", activation, weights, x, y,
                    f"10 {init}-initialised layers of widths {widths}, a batch of 8"))
    weights, x, y, widths, batch = _integer_relu_network(rng)
    out.append(("relu/kink", KINK[0], "relu", weights, x, y,
                f"3 layers of widths {widths} with integer weights and inputs (some pre-activations are exactly 0), "
                f"a batch of {batch}"))
    return out


def plan(seed: int) -> Plan:
    rng = exercise_rng(seed, "q10")
    p = Plan("q10", seed, [])
    for name, tag, activation, weights, x, y, label in _cases(rng):
        call = Call(f"{FUNC}/{name}", FUNC, (weights, x, y, activation), {}, label, tag=tag)
        p.calls.append(call)
        p.expected[call.id] = keys.layer_gradient_norms(weights, x, y, activation)
    weights, x, y = _network(rng, [4, 3, 2], 4, _xavier)
    for bad in BAD_ACTIVATIONS:
        p.calls.append(Call(f"{FUNC}/bad/{bad}", FUNC, (weights, x, y, bad), {}, "an unknown activation", tag=BAD))
    return p


# --- checks -----------------------------------------------------------------------------------------
def _norms_of(results: Results, call: Call) -> np.ndarray:
    """The result as a float array of shape (L,)."""
    L = len(call.args[0])
    value = result(results, call)
    if isinstance(value, tuple):
        raise WrongShape(f"{call.signature()} returned a tuple/list of {len(value)} arrays, expected one array of "
                         f"shape ({L},).", hint="return the norms, np.array([np.linalg.norm(g) for g in grads]), "
                                               "not the gradients.", expected_shape=(L,), got_shape=None)
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (L,):
        hint = ("one norm per layer: np.linalg.norm(grad) of each gradient matrix, collected in a 1-d array."
                if value.size != L else "return a 1-d array of the L norms.")
        raise WrongShape(f"{call.signature()} returned shape {value.shape}, expected ({L},) for {L} weight matrices.",
                         hint=hint, expected_shape=(L,), got_shape=value.shape)
    return value


def _shape(plan: Plan, results: Results, call: Call) -> None:
    _norms_of(results, call)


def _finite(plan: Plan, results: Results, call: Call) -> None:
    got = _norms_of(results, call)
    assert_finite(got, call, hint="look for an exp() that overflows in the sigmoid, or a division by 0.")
    if np.any(got < 0):
        raise PropertyViolated(f"{call.describe()} returned a negative norm, {got[np.argmin(got)]:.6g} for "
                               f"layer {int(np.argmin(got))}.",
                               hint="a Frobenius norm is never negative: np.linalg.norm(grad).")


def _one_value(plan: Plan, results: Results, call: Call) -> None:
    key = plan.expected[call.id]
    assert_close(_norms_of(results, call), key, call, inputs=np.arange(key.size), input_name="layer",
                 mistakes=known(MISTAKES, *call.args, key))


def vanishing(plan: Plan, results: Results) -> None:
    """The contract's observation: sigmoid gradients vanish towards the input, ReLU ones (with He) do not."""
    sig, relu = plan.call(f"{FUNC}/sigmoid/deep"), plan.call(f"{FUNC}/relu/deep")
    got = np.abs(_norms_of(results, sig))  # a negative norm is graded by the finiteness criterion
    if not got[0] < VANISHING_RATIO * got[-1]:
        hint = ("the norms look reversed: the first entry is weights[0], next to the input."
                if got[-1] < VANISHING_RATIO * got[0] else
                "every hidden sigmoid layer multiplies the backward signal by sigmoid'(z) <= 1/4: "
                "apply its derivative at every hidden layer.")
        raise PropertyViolated(f"{sig.describe()}: the first layer's norm {got[0]:.3g} is not orders of "
                               f"magnitude below the last's {got[-1]:.3g} (ratio {got[0] / got[-1]:.3g}, "
                               f"expected below {VANISHING_RATIO:g}).", hint=hint)
    got = np.abs(_norms_of(results, relu))
    if not got[0] > HEALTHY_RATIO * got[-1]:
        raise PropertyViolated(f"{relu.describe()}: the first layer's norm {got[0]:.3g} is orders of magnitude "
                               f"below the last's {got[-1]:.3g} (ratio {got[0] / got[-1]:.3g}, expected above "
                               f"{HEALTHY_RATIO:g}).",
                               hint="ReLU passes the backward signal with factor 1 where z > 0: use the ReLU "
                                    "derivative (z > 0), not the sigmoid's, for activation 'relu'.")


#: Shape, finiteness, the vanishing ratio, ValueError and "not modified" are true of np.ones(L) or of
#: np.logspace(-6, 0, L): they count once the norms of some network are right.
#: Networks of depth 2 are left out of it: two norms are too few for a gate, which one network meets alone (a
#: near miss, float32 arithmetic, matches two numbers by chance on about one draw in 300,000; three, on one in 10^8).
WORKS = works("the norms are right for at least one network",
              lambda plan: [c for c in plan.select(func=FUNC, tags=SIGMOID + RELU) if len(c.args[0]) >= 3], _one_value)

EXERCISE = Exercise(
    id="q10",
    title="Deep sigmoid vs ReLU: per-layer gradient norms",
    points=14,
    names=("layer_gradient_norms",),
    plan=plan,
    criteria=(
        each_call("sigmoid networks of depth 2 and 3: the norms match the gradient of the loss", 1.5,
                  calls(FUNC, SIGMOID[:1]), _one_value),
        each_call("sigmoid networks of depth 6 and 10: the norms match the gradient of the loss", 1.5,
                  calls(FUNC, SIGMOID[1:]), _one_value),
        each_call("ReLU networks of depth 2 and 3: the norms match the gradient of the loss", 1.5,
                  calls(FUNC, RELU[:1]), _one_value),
        each_call("ReLU networks of depth 6 and 10: the norms match the gradient of the loss", 1.5,
                  calls(FUNC, RELU[1:]), _one_value),
        each_call("ReLU derivative 0 at 0: integer network with pre-activations exactly 0", 1.5, calls(FUNC, KINK),
                  _one_value),
        *gated(WORKS,
               each_call("returns an array of shape (L,), one norm per weight matrix", 1.5, calls(FUNC, NORMS),
                         _shape),
               each_call("the norms are finite and non-negative", 1, calls(FUNC, NORMS), _finite),
               Criterion("depth 10: sigmoid gradients vanish towards the input, He-initialised ReLU ones do not", 1,
                         vanishing),
               raises_value_error("an unknown activation ('tanh', 'linear') raises ValueError", 1, calls(FUNC, BAD)),
               unmutated("weights, x and y are not modified", 2, calls(FUNC, NORMS))),
    ),
)
