# sigmoid is right; the derivatives return far more data than was asked for.

# %%
import numpy as np

# %%
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

# %%
# attack: results of millions of elements
def sigmoid_derivative(x):
    return np.zeros(6_000_000)  # more than the grader accepts from one call


def tanh_derivative(x):
    return np.ones(3_000_000)  # accepted alone, but a few of them exceed what a submission may send
