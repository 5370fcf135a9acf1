# Correct activations in a notebook that asks for input, at the top level and
# inside a graded function.

# %%
import sys

import numpy as np

# %%
# attack: wait for a human
student_id = input("Student number: ")

# %%
# attack: read standard input to the end
everything = sys.stdin.read()
line = sys.stdin.readline()

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
# attack: a graded function that asks
def relu_derivative(x):
    answer = input("relu'(0) = ? ")
    return np.where(np.asarray(x) > 0, 1.0, float(answer))
