# %%
import numpy as np
from numpy import exp, tanh, where


def _stable_sigmoid(t):
    """1 / (1 + e^-t) without overflow: exp only ever sees -|t|."""
    e = exp(-abs(t))
    return where(t >= 0, 1 / (1 + e), e / (1 + e))


# %%
sigmoid = lambda x: _stable_sigmoid(np.asarray(x, dtype=float))


def sigmoid_derivative(x):
    return _stable_sigmoid(np.asarray(x, dtype=float)) * _stable_sigmoid(-np.asarray(x, dtype=float))


def tanh_derivative(x):
    return 1 / np.cosh(np.clip(x, -350, 350)) ** 2


# %%
relu_derivative = lambda x: where(np.asarray(x) > 0, 1.0, 0.0)
leaky_relu_derivative = lambda x, alpha=0.01: where(np.asarray(x) > 0, 1.0, alpha * np.ones(np.shape(x)))


def elu_derivative(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return where(x > 0, 1.0, alpha * exp(np.clip(x, None, 0)))


def gelu_derivative(x):
    x = np.asarray(x, dtype=float)
    k = np.sqrt(2 / np.pi)
    cube = 0.044715 * x * x * x
    sech2 = 1 - tanh(k * (x + cube)) ** 2
    return 0.5 * (1 + tanh(k * (x + cube))) + 0.5 * x * sech2 * k * (1 + 3 * 0.044715 * x * x)


def silu_derivative(x):
    x = np.asarray(x, dtype=float)
    return _stable_sigmoid(x) * (1 + x * _stable_sigmoid(-x))


# %%
collapse_affine = lambda W1, b1, W2, b2: (W2 @ W1, W2 @ b1 + b2)


# %%
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    log_norm = np.logaddexp.reduce(z, axis=axis, keepdims=True)
    return exp(z - log_norm)


def softmax_jacobian(s):
    s = np.asarray(s, dtype=float)
    return np.einsum("i,ij->ij", s, np.eye(len(s)) - s[None, :])


# %%
glu = lambda a, b: a * _stable_sigmoid(np.asarray(b, dtype=float))


def glu_backward(a, b, grad_out):
    g = _stable_sigmoid(np.asarray(b, dtype=float))
    return grad_out * g, grad_out * a * g * _stable_sigmoid(-np.asarray(b, dtype=float))


# %%
VARIANCES = {
    "xavier": lambda fan_in, fan_out: 2.0 / (fan_in + fan_out),
    "he": lambda fan_in, fan_out: 2.0 / fan_in,
}


def xavier_variance(n_in, n_out):
    return VARIANCES["xavier"](n_in, n_out)


def he_variance(n_in):
    return VARIANCES["he"](n_in, None)


def init_weights(n_in, n_out, scheme, rng):
    try:
        variance = VARIANCES[scheme](n_in, n_out)
    except KeyError:
        raise ValueError(f"no such scheme: {scheme}") from None
    return rng.normal(loc=0.0, scale=np.sqrt(variance), size=(n_in, n_out))


# %%
dead_relu_units = lambda preacts, threshold=0.01: (np.asarray(preacts) > 0).mean(axis=0) < threshold


# %%
prelu = lambda x, alpha: where(x > 0, x, x * alpha)


def prelu_backward(x, alpha, grad_out):
    slope = where(x > 0, 1.0, alpha)
    return grad_out * slope, float((grad_out * where(x <= 0, x, 0.0)).sum())


# %%
from functools import reduce


def layer_gradient_norms(weights, x, y, activation):
    table = {
        "sigmoid": (_stable_sigmoid, lambda u: _stable_sigmoid(u) * _stable_sigmoid(-u)),
        "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(float)),
    }
    if activation not in table:
        raise ValueError(f"unknown activation: {activation}")
    f, df = table[activation]
    acts = reduce(lambda hs, W: hs + [f(hs[-1] @ W)], weights[:-1], [x])
    pre = [a @ W for a, W in zip(acts[:-1], weights[:-1])]
    err = (acts[-1] @ weights[-1] - y) / x.shape[0]
    grads = [acts[-1].T @ err]
    for l in range(len(weights) - 2, -1, -1):
        err = (err @ weights[l + 1].T) * df(pre[l])
        grads.insert(0, acts[l].T @ err)
    return np.array([np.linalg.norm(g) for g in grads])
