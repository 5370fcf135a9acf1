# %%
import numpy as np

# %%
def sigmoid(x):
    x = np.asarray(x, float)
    return np.exp(-np.logaddexp(0.0, -x))


def sigmoid_derivative(x):
    x = np.asarray(x, float)
    return np.exp(-np.logaddexp(0.0, -x) - np.logaddexp(0.0, x))


def tanh_derivative(x):
    return np.square(1 / np.cosh(np.clip(np.asarray(x, float), -300, 300)))


# %%
def relu_derivative(x):
    return np.heaviside(np.asarray(x, float), 0.0)


def leaky_relu_derivative(x, alpha=0.01):
    x = np.asarray(x, float)
    return alpha + (1 - alpha) * np.heaviside(x, 0.0)


def elu_derivative(x, alpha=1.0):
    x = np.asarray(x, float)
    return np.piecewise(x, [x > 0], [1.0, lambda v: alpha * np.exp(v)])


def gelu_derivative(x):
    x = np.asarray(x, float)
    c, k = np.sqrt(2 / np.pi), 0.044715
    t = np.tanh(c * x * (1 + k * x * x))
    return 0.5 * (1 + t + x * c * (1 - t * t) * (1 + 3 * k * x * x))


def silu_derivative(x):
    x = np.asarray(x, float)
    s = sigmoid(x)
    return s * (1 + x - x * s)


# %%
def collapse_affine(W1, b1, W2, b2):
    return np.linalg.multi_dot([W2, W1]), np.add(W2.dot(b1), b2)


# %%
def softmax(z, axis=-1):
    z = np.asarray(z, float)
    z = z - np.expand_dims(np.max(z, axis), axis)
    e = np.exp(z)
    return e / np.expand_dims(e.sum(axis), axis)


def softmax_jacobian(s):
    s = np.asarray(s, float)
    return np.diagflat(s) - s[:, None] * s[None, :]


# %%
def glu(a, b):
    return a / (1 + np.exp(-np.asarray(b, float))) if np.all(np.asarray(b) > -700) else a * sigmoid(b)


def glu_backward(a, b, grad_out):
    s = sigmoid(b)
    ds = sigmoid_derivative(b)
    return grad_out * s, grad_out * a * ds


# %%
xavier_variance = lambda n_in, n_out: 2 / (n_in + n_out)
he_variance = lambda n_in: 2 / n_in


def init_weights(n_in, n_out, scheme, rng):
    var = {"xavier": xavier_variance, "he": lambda i, o: he_variance(i)}.get(scheme)
    if var is None:
        raise ValueError(scheme)
    return rng.normal(size=(n_in, n_out)) * np.sqrt(var(n_in, n_out))


# %%
def dead_relu_units(preacts, threshold=0.01):
    p = np.asarray(preacts)
    return np.sum(p > 0, axis=0) < threshold * len(p)


# %%
def prelu(x, alpha):
    return np.maximum(x, 0) - alpha * np.maximum(-x, 0)


def prelu_backward(x, alpha, grad_out):
    neg = x <= 0
    return grad_out * (1 - neg + alpha * neg), float(np.vdot(grad_out, x * neg))


# %%
def layer_gradient_norms(weights, x, y, activation):
    f = {"sigmoid": sigmoid, "relu": lambda u: np.maximum(u, 0)}
    d = {"sigmoid": sigmoid_derivative, "relu": relu_derivative}
    if activation not in f:
        raise ValueError(activation)
    hs, us = [x], []
    for w in weights[:-1]:
        us.append(hs[-1] @ w)
        hs.append(f[activation](us[-1]))
    g = (hs[-1] @ weights[-1] - y) / len(y)
    out = []
    for l in reversed(range(len(weights))):
        out.append(np.linalg.norm(hs[l].T @ g))
        if l:
            g = (g @ weights[l].T) * d[activation](us[l - 1])
    return np.array(out[::-1])
