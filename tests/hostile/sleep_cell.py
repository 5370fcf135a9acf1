# Correct activations, with a cell that waits for an hour (a training loop
# left in, a time.sleep to "let the plot render").

# %%
import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1.0 - s)

# %%
# attack: sleep far beyond the time one cell may take
import time
time.sleep(3600)

# %%
def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2
