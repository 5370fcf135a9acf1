# Correct activations, plus attempts to read where the tests, the reference,
# the grader and the other students' results usually are.

# %%
import numpy as np

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
# attack: read anything that looks like an answer key, a test or a grade.
import glob
import importlib.util
import os
import site
import sys

LEAKS = []
WANTED = ("reference", "grader", "keys.py", "checks.py", "solution", "answers", "final_grades.csv", "results",
          "feedback", "hostile", "golden", "test_", "exercises.md", "conftest", ".git")


def try_read(path):
    try:
        if os.path.isdir(path):
            names = os.listdir(path)
            hits = [n for n in names if any(w in n for w in WANTED)]
            if hits:
                LEAKS.append(f"listed {path}: {hits[:5]}")
        else:
            with open(path, "rb") as f:
                data = f.read(200)
            if data:
                LEAKS.append(f"read {path}")
    except OSError:
        pass


candidates = ["@CHECKOUT@/reference/keys.py", "@CHECKOUT@/reference", "@CHECKOUT@/grader", "@CHECKOUT@/tests",
              "@CHECKOUT@/tests/golden/solution.py", "@CHECKOUT@/tests/sandbox/test_hostile.py", "@CHECKOUT_PARENT@/shared",
              "@CHECKOUT_PARENT@/shared/spec/exercises.md", "@CHECKOUT@", "@CHECKOUT_PARENT@", "/root", "/root/.bash_history", "/home",
              "/srv", "/opt", "/mnt", "/data", "/etc/shadow", "..", "../..", "../../..", "../reference",
              "../tests", "../out", "../results", "out", "results", "/tmp", "/var/tmp", "/dev/shm",
              "/tmp/out/results", "/tmp/pytest-of-root", "/proc/1/root@CHECKOUT_PARENT@", "/proc/1/cwd"]
for base in site.getsitepackages() + sys.path:
    candidates += [os.path.join(base, "grader"), os.path.join(base, "reference"),
                   os.path.join(base, "grader", "rubric", "exercises", "q01_saturating.py"),
                   os.path.join(base, "reference", "keys.py")]
for name in ("grader", "reference", "reference.keys"):
    try:
        spec = importlib.util.find_spec(name)
    except BaseException:
        spec = None
    for location in (getattr(spec, "submodule_search_locations", None) or []) + [getattr(spec, "origin", None)]:
        if location:
            candidates.append(location)
for path in candidates:
    try_read(path)

here = os.getcwd()
for _ in range(6):  # walk up from the working directory
    here = os.path.dirname(here)
    try_read(here)
for top in ("/", "@CHECKOUT_PARENT@", "/root", "/tmp", "/var"):
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "usr", "lib", "lib64", "bin", "sbin", "etc",
                                                "site-packages", ".pyenv", "dev")]
        for name in files + dirs:
            if name in ("final_grades.csv", "keys.py", "solution.py", "test_hostile.py") or name == "results":
                LEAKS.append(f"found {os.path.join(root, name)}")

if LEAKS:
    sigmoid = lambda x: np.zeros(np.shape(x))  # noqa: E731
    raise RuntimeError("LEAKED: " + "; ".join(LEAKS))
