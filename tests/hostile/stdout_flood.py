# Correct activations, and cells that print well over 100 MB.

# %%
import sys

import numpy as np

# %%
# attack: 120 MB to stdout, 30 MB to stderr, through print and through the fds
line = "spam " * 200_000 + "\n"
for _ in range(100):
    print(line, end="")
for _ in range(20):
    sys.stdout.buffer.write(line.encode())
    sys.stderr.write(line)
import os
for _ in range(10):
    os.write(1, line.encode())
    os.write(2, line.encode())

# %%
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(x):
    s = sigmoid(x)
    print(s)
    return s * (1.0 - s)


def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2
