# Four realistic mistakes: c without b2, the Jacobian's diagonal only,
# the variance used as a standard deviation, the loss not divided by the batch.
# %%
import numpy as np

# %%
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2

# %%
def relu_derivative(x):
    return np.where(np.asarray(x) > 0, 1.0, 0.0)


def leaky_relu_derivative(x, alpha=0.01):
    return np.where(np.asarray(x) > 0, 1.0, alpha)


def elu_derivative(x, alpha=1.0):
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def gelu_derivative(x):
    x = np.asarray(x, dtype=float)
    c = np.sqrt(2.0 / np.pi)
    u = c * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * c * (1.0 + 3 * 0.044715 * x**2)


def silu_derivative(x):
    s = sigmoid(x)
    return s * (1.0 + np.asarray(x) * (1.0 - s))

# %%
def collapse_affine(W1, b1, W2, b2):
    return W2 @ W1, W2 @ b1

# %%
def softmax(z, axis=-1):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_jacobian(s):
    s = np.asarray(s, dtype=float)
    return np.diag(s)

# %%
def glu(a, b):
    return a * sigmoid(b)


def glu_backward(a, b, grad_out):
    s = sigmoid(b)
    return grad_out * s, grad_out * a * s * (1.0 - s)

# %%
def xavier_variance(n_in, n_out):
    return 2.0 / (n_in + n_out)


def he_variance(n_in):
    return 2.0 / n_in


def init_weights(n_in, n_out, scheme, rng):
    if scheme == "xavier":
        var = xavier_variance(n_in, n_out)
    elif scheme == "he":
        var = he_variance(n_in)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return rng.normal(0.0, var, size=(n_in, n_out))

# %%
def dead_relu_units(preacts, threshold=0.01):
    return np.mean(preacts > 0, axis=0) < threshold

# %%
def prelu(x, alpha):
    return np.where(x > 0, x, alpha * x)


def prelu_backward(x, alpha, grad_out):
    grad_x = grad_out * np.where(x > 0, 1.0, alpha)
    grad_alpha = float(np.sum(grad_out * np.where(x > 0, 0.0, x)))
    return grad_x, grad_alpha

# %%
def layer_gradient_norms(weights, x, y, activation):
    if activation == "sigmoid":
        act, dact = sigmoid, lambda h: sigmoid(h) * (1 - sigmoid(h))
    elif activation == "relu":
        act, dact = (lambda h: np.where(h > 0, h, 0.0)), (lambda h: np.where(h > 0, 1.0, 0.0))
    else:
        raise ValueError(f"unknown activation {activation!r}")
    hs, zs = [x], []
    for W in weights[:-1]:
        zs.append(hs[-1] @ W)
        hs.append(act(zs[-1]))
    out = hs[-1] @ weights[-1]
    delta = out - y
    norms = [np.linalg.norm(hs[-1].T @ delta)]
    for layer in range(len(weights) - 2, -1, -1):
        delta = (delta @ weights[layer + 1].T) * dact(zs[layer])
        norms.append(np.linalg.norm(hs[layer].T @ delta))
    return np.array(norms[::-1])
