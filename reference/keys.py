"""Answer keys, every one obtained from `reference.forward` by autograd.

This module is the single place where derivatives enter the grader: each key is
`elementwise_grad`, `jacobian`, `make_vjp` or `grad` applied to a forward
function. Plain NumPy arrays go in and come out.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from autograd import elementwise_grad, grad, jacobian, make_vjp

from reference import forward as F


# --- q1, q2: elementwise derivatives ----------------------------------------------------
def derivative(fn: Callable, x: np.ndarray, **params) -> np.ndarray:
    """d fn(x) / dx elementwise, for an elementwise activation ``fn``."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(elementwise_grad(lambda t: fn(t, **params))(x), dtype=np.float64)


def sigmoid_derivative(x):
    return derivative(F.sigmoid, x)


def tanh_derivative(x):
    return derivative(F.tanh, x)


def relu_derivative(x):
    return derivative(F.relu, x)


def leaky_relu_derivative(x, alpha=0.01):
    return derivative(F.leaky_relu, x, alpha=alpha)


def elu_derivative(x, alpha=1.0):
    return derivative(F.elu, x, alpha=alpha)


def gelu_derivative(x):
    return derivative(F.gelu, x)


def silu_derivative(x):
    return derivative(F.silu, x)


# --- q3: the collapsed affine map ---------------------------------------------------------
def collapse_affine(W1, b1, W2, b2):
    """(A, c) with A the Jacobian of the two-layer map and c its value at 0.

    An affine map is its own first-order Taylor expansion, so A = d out / d x
    (anywhere) and c = out(0) describe it exactly.
    """
    zero = np.zeros(np.shape(W1)[1])
    layers = lambda x: F.two_affine_layers(x, W1, b1, W2, b2)  # noqa: E731
    return np.asarray(jacobian(layers)(zero)), np.asarray(layers(zero))


# --- q5: softmax Jacobian -------------------------------------------------------------------
def softmax_jacobian_at_logits(z: np.ndarray) -> np.ndarray:
    """J[i, j] = d softmax(z)_i / d z_j for a logit vector z of shape (n,)."""
    return np.asarray(jacobian(F.softmax)(np.asarray(z, dtype=np.float64)))


# --- q6, q9: vector-Jacobian products ------------------------------------------------------
def vjp(fn: Callable, args: Sequence, argnum: int, grad_out) -> np.ndarray:
    """grad_out^T d fn(*args) / d args[argnum]."""
    pullback, _ = make_vjp(fn, argnum=argnum)(*args)
    return np.asarray(pullback(np.asarray(grad_out, dtype=np.float64)), dtype=np.float64)


def glu_backward(a, b, grad_out):
    return vjp(F.glu, (a, b), 0, grad_out), vjp(F.glu, (a, b), 1, grad_out)


def prelu_backward(x, alpha, grad_out):
    grad_x = vjp(F.prelu, (x, float(alpha)), 0, grad_out)
    grad_alpha = vjp(F.prelu, (x, float(alpha)), 1, grad_out)
    return grad_x, float(grad_alpha)


# --- q10: per-layer gradient norms ---------------------------------------------------------
def weight_gradients(weights, x, y, activation):
    """d loss / d weights[l] for every layer, by reverse mode through the loss."""
    weights = [np.asarray(W, dtype=np.float64) for W in weights]
    grads = grad(F.mlp_loss)(weights, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), activation)
    return [np.asarray(g) for g in grads]


def layer_gradient_norms(weights, x, y, activation):
    return np.array([np.linalg.norm(g) for g in weight_gradients(weights, x, y, activation)])
