# %%
import numpy as np
import math

# %%
def sigmoid(x):
    # convert to array first
    arr = np.asarray(x, dtype=float)
    result = np.zeros(arr.shape)
    # positive part: the usual formula
    result = np.where(arr >= 0, 1 / (1 + np.exp(-np.maximum(arr, 0))), result)
    # negative part: multiply top and bottom by e^x so nothing overflows
    result = np.where(arr < 0, np.exp(np.minimum(arr, 0)) / (1 + np.exp(np.minimum(arr, 0))), result)
    return result

def sigmoid_derivative(x):
    value = sigmoid(x)
    derivative = value * (1 - value)
    return derivative

def tanh_derivative(x):
    value = np.tanh(x)
    derivative = 1 - value * value
    return derivative

# %%
def relu_derivative(x):
    arr = np.asarray(x)
    derivative = np.zeros(arr.shape)
    derivative[arr > 0] = 1
    return derivative

def leaky_relu_derivative(x, alpha=0.01):
    arr = np.asarray(x)
    derivative = np.full(arr.shape, alpha, dtype=float)
    derivative[arr > 0] = 1
    return derivative

def elu_derivative(x, alpha=1.0):
    arr = np.asarray(x, dtype=float)
    derivative = np.ones(arr.shape)
    negative = arr <= 0
    derivative[negative] = alpha * np.exp(arr[negative])
    return derivative

def gelu_derivative(x):
    arr = np.asarray(x, dtype=float)
    a = math.sqrt(2 / math.pi)
    b = 0.044715
    inside = a * (arr + b * arr ** 3)
    tanh_inside = np.tanh(inside)
    first = 0.5 * (1 + tanh_inside)
    second = 0.5 * arr * (1 - tanh_inside ** 2) * a * (1 + 3 * b * arr ** 2)
    return first + second

def silu_derivative(x):
    arr = np.asarray(x, dtype=float)
    value = sigmoid(arr)
    return value + arr * value * (1 - value)

# %%
def collapse_affine(W1, b1, W2, b2):
    A = np.matmul(W2, W1)
    c = np.matmul(W2, b1)
    c = c + b2
    return (A, c)

# %%
def softmax(z, axis=-1):
    arr = np.asarray(z, dtype=float)
    biggest = np.amax(arr, axis=axis, keepdims=True)
    exps = np.exp(arr - biggest)
    sums = np.sum(exps, axis=axis, keepdims=True)
    answer = exps / sums
    return answer

# %%
def softmax_jacobian(s):
    s = np.asarray(s, dtype=float)
    n = len(s)
    J = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                J[i, j] = s[i] * (1 - s[i])
            else:
                J[i, j] = -s[i] * s[j]
    return J

# %%
def glu(a, b):
    gate = sigmoid(b)
    result = a * gate
    return result

def glu_backward(a, b, grad_out):
    gate = sigmoid(b)
    grad_a = grad_out * gate
    gate_derivative = gate * (1 - gate)
    grad_b = grad_out * a * gate_derivative
    return (grad_a, grad_b)

# %%
def xavier_variance(n_in, n_out):
    variance = 2 / (n_in + n_out)
    return variance

def he_variance(n_in):
    variance = 2 / n_in
    return variance

def init_weights(n_in, n_out, scheme, rng):
    if scheme == "xavier":
        variance = xavier_variance(n_in, n_out)
    elif scheme == "he":
        variance = he_variance(n_in)
    else:
        raise ValueError("unknown scheme")
    standard_deviation = math.sqrt(variance)
    weights = rng.normal(0, standard_deviation, (n_in, n_out))
    return weights

# %%
def dead_relu_units(preacts, threshold=0.01):
    preacts = np.asarray(preacts)
    n_samples = preacts.shape[0]
    n_units = preacts.shape[1]
    dead = np.zeros(n_units, dtype=bool)
    for unit in range(n_units):
        positive = 0
        for sample in range(n_samples):
            if preacts[sample, unit] > 0:
                positive = positive + 1
        dead[unit] = positive / n_samples < threshold
    return dead

# %%
def prelu(x, alpha):
    result = np.where(x > 0, x, alpha * x)
    return result

def prelu_backward(x, alpha, grad_out):
    grad_x = np.where(x > 0, grad_out, alpha * grad_out)
    grad_alpha = 0.0
    negative = x <= 0
    grad_alpha = grad_alpha + np.sum(grad_out[negative] * x[negative])
    return grad_x, float(grad_alpha)

# %%
def layer_gradient_norms(weights, x, y, activation):
    if activation == "sigmoid":
        pass
    elif activation == "relu":
        pass
    else:
        raise ValueError("unknown activation")
    layer_inputs = []
    pre_activations = []
    current = x
    for index in range(len(weights) - 1):
        layer_inputs.append(current)
        pre = current @ weights[index]
        pre_activations.append(pre)
        if activation == "sigmoid":
            current = sigmoid(pre)
        else:
            current = np.maximum(pre, 0)
    layer_inputs.append(current)
    output = current @ weights[-1]
    batch_size = x.shape[0]
    delta = (output - y) / batch_size
    norms = [0.0] * len(weights)
    norms[-1] = np.linalg.norm(layer_inputs[-1].T @ delta)
    for index in range(len(weights) - 2, -1, -1):
        delta = delta @ weights[index + 1].T
        if activation == "sigmoid":
            value = sigmoid(pre_activations[index])
            delta = delta * value * (1 - value)
        else:
            delta = delta * (pre_activations[index] > 0)
        norms[index] = np.linalg.norm(layer_inputs[index].T @ delta)
    return np.array(norms)
