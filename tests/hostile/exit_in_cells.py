# Correct activations, defined between cells that end the interpreter in every
# way there is. Jupyter would stop at the first; the grader skips each one.

# %%
import numpy as np

# %%
# attack: sys.exit in a cell (Jupyter reports SystemExit and goes on)
import sys
sys.exit(3)

# %%
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

# %%
# attack: the process ends without unwinding
import os
os._exit(0)

# %%
def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1.0 - s)

# %%
# attack: kill ourselves
import os
import signal
os.kill(os.getpid(), signal.SIGKILL)

# %%
def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2

# %%
# attack: a signal raised in-process, and quit()
import signal
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.raise_signal(signal.SIGTERM)

# %%
# attack: the site builtins
quit()
