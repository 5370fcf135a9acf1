# sigmoid and tanh_derivative are right; sigmoid_derivative never returns.

# %%
import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2

# %%
# attack: a graded function that loops forever
def sigmoid_derivative(x):
    while True:
        pass
