"""The forward functions of the ten exercises, each written once.

Written with `autograd.numpy` and functionally (no in-place assignment) so that
`reference.keys` can differentiate them. Two rules keep autograd's derivatives
equal to the ones the contract names:

* Kinks are written with ``where``, never ``maximum``/``minimum``/``abs``: autograd
  splits the gradient of those at a tie (1/2 at 0), while ``where(x > 0, ...)``
  takes the branch the contract names at x = 0.
* Every branch of a ``where`` is finite everywhere. autograd multiplies the
  untaken branch's derivative by 0, and ``0 * inf`` is nan, so an ``exp`` that
  would overflow in the untaken branch is fed a clipped argument instead.
"""
from __future__ import annotations

import autograd.numpy as anp

GELU_C = anp.sqrt(2.0 / anp.pi)
GELU_K = 0.044715


# --- q1: saturating activations -------------------------------------------------
def sigmoid(x):
    """1 / (1 + exp(-x)), finite for every finite x.

    exp is only ever given a non-positive argument, so nothing overflows.
    """
    e = anp.exp(anp.where(x >= 0, -x, x))  # exp(-|x|), in (0, 1]
    return anp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x):
    return anp.tanh(x)


# --- q2: ReLU family and smooth activations ------------------------------------
def relu(x):
    return anp.where(x > 0, x, 0.0 * x)


def leaky_relu(x, alpha=0.01):
    return anp.where(x > 0, x, alpha * x)


def elu(x, alpha=1.0):
    negative_part = anp.where(x > 0, 0.0, x)  # keeps exp finite for large x
    return anp.where(x > 0, x, alpha * (anp.exp(negative_part) - 1.0))


def gelu(x):
    """The tanh form of GELU named by the contract."""
    return 0.5 * x * (1.0 + anp.tanh(GELU_C * (x + GELU_K * x**3)))


def silu(x):
    return x * sigmoid(x)


# --- q3: affine collapse -----------------------------------------------------------
def two_affine_layers(x, W1, b1, W2, b2):
    """W2 @ (W1 @ x + b1) + b2 for a column vector x of shape (d,)."""
    return anp.dot(W2, anp.dot(W1, x) + b1) + b2


# --- q4, q5: softmax ---------------------------------------------------------------
def softmax(z, axis=-1):
    """Softmax along ``axis``; the maximum is subtracted so exp never overflows.

    Softmax is invariant to that shift, so the derivative through the maximum
    is zero and autograd's tie-splitting in ``max`` does not matter.
    """
    shifted = z - anp.max(z, axis=axis, keepdims=True)
    e = anp.exp(shifted)
    return e / anp.sum(e, axis=axis, keepdims=True)


# --- q6: gated linear unit ---------------------------------------------------------
def glu(a, b):
    return a * sigmoid(b)


# --- q7: initialisation variances -------------------------------------------------
def xavier_variance(n_in, n_out):
    return 2.0 / (n_in + n_out)


def he_variance(n_in):
    return 2.0 / n_in


INIT_VARIANCE = {
    "xavier": lambda n_in, n_out: xavier_variance(n_in, n_out),
    "he": lambda n_in, n_out: he_variance(n_in),
}


# --- q8: dead ReLU units ------------------------------------------------------------
def dead_relu_units(preacts, threshold=0.01):
    active_fraction = anp.mean(preacts > 0, axis=0)
    return active_fraction < threshold


# --- q9: PReLU ------------------------------------------------------------------------
def prelu(x, alpha):
    return anp.where(x > 0, x, alpha * x)


# --- q10: deep network --------------------------------------------------------------
ACTIVATIONS = {"sigmoid": sigmoid, "relu": relu}


def mlp_forward(weights, x, activation):
    """h = act(h @ W) for all but the last matrix; the output layer is linear."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}")
    act = ACTIVATIONS[activation]
    h = x
    for W in weights[:-1]:
        h = act(anp.dot(h, W))
    return anp.dot(h, weights[-1])


def mlp_loss(weights, x, y, activation):
    """0.5 * sum((output - y)**2) / batch."""
    output = mlp_forward(weights, x, activation)
    return 0.5 * anp.sum((output - y) ** 2) / x.shape[0]
