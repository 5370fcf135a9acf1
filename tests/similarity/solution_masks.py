# %%
import numpy as np

# %%
# Question 1: boolean masks and preallocated outputs, one branch at a time.
def sigmoid(x):
    x = np.array(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    neg = ~pos
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[neg])
    out[neg] = ex / (ex + 1.0)
    return out


def sigmoid_derivative(x):
    sig = sigmoid(x)
    return sig - sig * sig


def tanh_derivative(x):
    th = np.tanh(np.asarray(x, dtype=np.float64))
    return (1.0 - th) * (1.0 + th)

# %%
def relu_derivative(x):
    return (np.asarray(x) > 0).astype(np.float64)


def leaky_relu_derivative(x, alpha=0.01):
    grad = np.ones(np.shape(x))
    grad[np.asarray(x) <= 0] = alpha
    return grad


def elu_derivative(x, alpha=1.0):
    x = np.array(x, dtype=np.float64)
    grad = np.ones_like(x)
    mask = x <= 0
    grad[mask] = alpha * np.exp(x[mask])
    return grad


SQRT_2_OVER_PI = np.sqrt(2 / np.pi)
GELU_K = 0.044715


def gelu_derivative(x):
    x = np.array(x, dtype=np.float64)
    inner = SQRT_2_OVER_PI * (x + GELU_K * np.power(x, 3))
    th = np.tanh(inner)
    d_inner = SQRT_2_OVER_PI * (1 + 3 * GELU_K * np.power(x, 2))
    return 0.5 * (1 + th) + 0.5 * x * (1 - np.power(th, 2)) * d_inner


def silu_derivative(x):
    x = np.array(x, dtype=np.float64)
    sig = sigmoid(x)
    return sig + x * sig * (1 - sig)

# %%
def collapse_affine(W1, b1, W2, b2):
    A = np.dot(W2, W1)
    c = np.dot(W2, b1) + b2
    return A, c

# %%
def softmax(z, axis=-1):
    z = np.array(z, dtype=np.float64)
    shifted = z - z.max(axis=axis, keepdims=True)
    ex = np.exp(shifted)
    total = ex.sum(axis=axis, keepdims=True)
    return ex / total

# %%
def softmax_jacobian(s):
    s = np.array(s, dtype=np.float64).reshape(-1)
    n = s.shape[0]
    jac = -np.outer(s, s)
    jac[np.arange(n), np.arange(n)] += s
    return jac

# %%
def glu(a, b):
    gate = sigmoid(b)
    return np.multiply(a, gate)


def glu_backward(a, b, grad_out):
    gate = sigmoid(b)
    da = np.multiply(grad_out, gate)
    db = grad_out * a * gate * (1 - gate)
    return da, db

# %%
def xavier_variance(n_in, n_out):
    return 2 / float(n_in + n_out)


def he_variance(n_in):
    return 2 / float(n_in)


def init_weights(n_in, n_out, scheme, rng):
    variances = {"xavier": xavier_variance(n_in, n_out), "he": he_variance(n_in)}
    if scheme not in variances:
        raise ValueError("scheme must be 'xavier' or 'he', got " + repr(scheme))
    std = variances[scheme] ** 0.5
    return std * rng.standard_normal((n_in, n_out))

# %%
def dead_relu_units(preacts, threshold=0.01):
    preacts = np.asarray(preacts)
    active = np.count_nonzero(preacts > 0, axis=0)
    return active / preacts.shape[0] < threshold

# %%
def prelu(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0) + alpha * np.minimum(x, 0)


def prelu_backward(x, alpha, grad_out):
    x = np.asarray(x, dtype=np.float64)
    positive = x > 0
    dx = np.where(positive, grad_out, alpha * grad_out)
    dalpha = np.sum(np.where(positive, 0, x * grad_out))
    return dx, float(dalpha)

# %%
def layer_gradient_norms(weights, x, y, activation):
    if activation not in ("sigmoid", "relu"):
        raise ValueError("activation must be sigmoid or relu")
    inputs, pre = [], []
    h = x
    for W in weights[:-1]:
        inputs.append(h)
        z = h @ W
        pre.append(z)
        h = sigmoid(z) if activation == "sigmoid" else np.maximum(z, 0)
    inputs.append(h)
    grad = (h @ weights[-1] - y) / len(x)
    norms = []
    for i in reversed(range(len(weights))):
        norms.append(np.linalg.norm(inputs[i].T @ grad))
        if i > 0:
            grad = grad @ weights[i].T
            if activation == "sigmoid":
                s = sigmoid(pre[i - 1])
                grad = grad * s * (1 - s)
            else:
                grad = grad * (pre[i - 1] > 0)
    return np.array(norms[::-1])
