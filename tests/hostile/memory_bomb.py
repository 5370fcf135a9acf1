# Correct activations between cells that try to use all the memory and all the
# disk there is, and to lift the limits first.

# %%
import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

# %%
# attack: lift the limits
import resource
for limit in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU):
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass

# %%
# attack: allocate 16 GiB at once
hog = np.ones((2**17, 2**14))

# %%
# attack: grow until something gives
chunks = []
while True:
    chunks.append(bytearray(64 * 2**20))

# %%
chunks = None


def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1.0 - s)

# %%
# attack: fill the disk (file size limit, then the size of /tmp)
import os
block = b"\0" * 2**24
for i in range(64):
    try:
        with open(f"/tmp/fill-{i}", "wb") as f:
            while True:
                f.write(block)
    except OSError:
        pass

# %%
def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2

# %%
# attack: a graded function that allocates without bound
def relu_derivative(x):
    return np.zeros((2**20, 2**20))
