"""The code every student was given: the student notebook's code cells, shipped with the grader.

What the similarity report takes out of every submission before comparing (the starter code, the
helpers, the function stubs with their docstrings), so that code everybody received makes no
pair. ``CELLS`` below is generated from the master notebook (``assignments/master/activations.ipynb``)
by :func:`student_cells`, the way ``otter assign`` makes the student notebook: the code cells that are
not tests, with each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` block replaced by ``...``.
``tests/reports/test_similarity.py`` fails when the two disagree (``UPDATE_SNAPSHOTS=1`` rewrites it).
Pure: no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.M | re.S)
_LINE = re.compile(r"^([ \t]*)(.*?)[ \t]*# SOLUTION[ \t]*$", re.M)


def student_cells(master: Mapping) -> list[str]:
    """The code cells of the student notebook made from the master notebook ``master`` (its JSON)."""
    out = []
    for cell in master.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if "# BEGIN TEST CONFIG" in source or "# END TEST CONFIG" in source:
            continue
        source = _BLOCK.sub(lambda m: f"{m.group(1)}...{m.group(2)}", source)
        source = _LINE.sub(lambda m: f"{m.group(1)}...", source)
        out.append(source)
    return out


# generated: do not edit by hand (see the module docstring)
CELLS: tuple[str, ...] = (
    '# Sanity checks: `grader.check("q1")` runs those of question 1. They need otter-grader\n# (pip install otter-grader) and this notebook\'s file, which holds the checks: any name works.\nimport glob\nimport json\nimport os\n\n\nclass _NoChecks:\n    def __init__(self, why):\n        self.why = why\n        print(f"WARNING: grader.check is off: {why}")\n\n    def check(self, question):\n        print(f"WARNING: no sanity checks ran for {question}: {self.why}")\n\n    def check_all(self):\n        print(f"WARNING: no sanity checks ran: {self.why}")\n\n\ndef _notebook_file():\n    """This notebook\'s file: the one Jupyter names (JupyterLab, Notebook 7, VS Code), else\n    activations.ipynb, else the newest notebook here that carries this assignment\'s checks."""\n    for name in ("__session__", "__vsc_ipynb_file__"):\n        path = globals().get(name)\n        if isinstance(path, str) and path.endswith(".ipynb") and os.path.isfile(path):\n            return path\n    found = []\n    for path in glob.glob("*.ipynb"):\n        try:\n            with open(path, encoding="utf-8") as f:\n                otter_metadata = json.load(f).get("metadata", {}).get("otter", {})\n        except (OSError, ValueError, AttributeError):\n            continue\n        if isinstance(otter_metadata, dict) and otter_metadata.get("tests"):\n            found.append(path)\n    if "activations.ipynb" in found:\n        return "activations.ipynb"\n    return max(found, key=os.path.getmtime) if found else None\n\n\n_path = _notebook_file()\nif _path is None:\n    grader = _NoChecks(f"no copy of this notebook with its checks is in {os.getcwd()}: save the notebook "\n                       "and run this cell again (the checks live in the notebook file\'s metadata)")\nelse:\n    try:\n        import otter\n    except ImportError:\n        grader = _NoChecks("otter-grader is not installed (pip install otter-grader, then restart the kernel)")\n    else:\n        grader = otter.Notebook(_path)',
    'import numpy as np\nimport matplotlib.pyplot as plt\n\n\ndef curve(name, x, **kwargs):\n    """Values of the notebook\'s function `name` at x for a figure, or None (with a note) if not usable yet."""\n    func = globals().get(name)\n    if not callable(func):\n        print(f"{name}: not defined yet, left out of the figure")\n        return None\n    try:\n        out = func(x, **kwargs)\n        out = None if out is None else np.asarray(out, dtype=float)\n    except Exception as exc:\n        print(f"{name}: raised {type(exc).__name__} ({exc}), left out of the figure")\n        return None\n    if out is None or out.shape != np.shape(x):\n        print(f"{name}: not implemented yet (or wrong shape), left out of the figure")\n        return None\n    return out',
    'def sigmoid(x):\n    """Logistic sigmoid 1 / (1 + exp(-x)), elementwise; finite for every finite x."""\n    ...\n\n\ndef sigmoid_derivative(x):\n    """sigma\'(x) = sigma(x) * (1 - sigma(x)), elementwise."""\n    ...\n\n\ndef tanh_derivative(x):\n    """d tanh(x) / dx = 1 - tanh(x)**2, elementwise."""\n    ...',
    'def relu_derivative(x):\n    """1.0 where x > 0, else 0.0 (0 at x = 0)."""\n    ...\n\n\ndef leaky_relu_derivative(x, alpha=0.01):\n    """1.0 where x > 0, else alpha."""\n    ...\n\n\ndef elu_derivative(x, alpha=1.0):\n    """1.0 where x > 0, else alpha * exp(x)."""\n    ...\n\n\ndef gelu_derivative(x):\n    """Derivative of the tanh form of GELU."""\n    ...\n\n\ndef silu_derivative(x):\n    """Derivative of silu(x) = x * sigmoid(x); finite at +-1000."""\n    ...',
    '# Figure (not graded): the activations and the derivatives your functions return.\nx = np.linspace(-5, 5, 401)\nsig = 1 / (1 + np.exp(-x))\nactivations = {\n    "sigmoid": sig, "tanh": np.tanh(x), "relu": np.maximum(x, 0), "leaky relu (alpha=0.1)": np.where(x > 0, x, 0.1 * x),\n    "elu": np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),\n    "gelu": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))), "silu": x * sig,\n}\nderivatives = {\n    "sigmoid": curve("sigmoid_derivative", x), "tanh": curve("tanh_derivative", x),\n    "relu": curve("relu_derivative", x), "leaky relu (alpha=0.1)": curve("leaky_relu_derivative", x, alpha=0.1),\n    "elu": curve("elu_derivative", x), "gelu": curve("gelu_derivative", x), "silu": curve("silu_derivative", x),\n}\nfig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))\nfor label, values in activations.items():\n    left.plot(x, values, label=label)\n    if derivatives[label] is not None:\n        right.plot(x, derivatives[label], label=label)\nleft.set(title="activations", xlabel="x", ylim=(-1.5, 3))\nright.set(title="derivatives (from your functions)", xlabel="x", ylim=(-0.3, 1.3))\nright.axhline(0.25, color="grey", lw=0.8, ls=":")\nleft.legend(fontsize=8)\nif any(values is not None for values in derivatives.values()):\n    right.legend(fontsize=8)\nplt.tight_layout()\nplt.show()',
    'def collapse_affine(W1, b1, W2, b2):\n    """(A, c) with W2 @ (W1 @ x + b1) + b2 == A @ x + c for every x."""\n    ...',
    'def softmax(z, axis=-1):\n    """Softmax of z along `axis`, finite for any finite logits."""\n    ...',
    'def softmax_jacobian(s):\n    """J[i, j] = d s_i / d z_j for a probability vector s = softmax(z) of shape (n,)."""\n    ...',
    'def glu(a, b):\n    """Gated linear unit a * sigmoid(b), elementwise."""\n    ...\n\n\ndef glu_backward(a, b, grad_out):\n    """(grad_a, grad_b): the vector-Jacobian products of glu with grad_out."""\n    ...',
    'def xavier_variance(n_in, n_out):\n    """Xavier/Glorot variance 2 / (n_in + n_out)."""\n    ...\n\n\ndef he_variance(n_in):\n    """He/Kaiming variance 2 / n_in."""\n    ...\n\n\ndef init_weights(n_in, n_out, scheme, rng):\n    """(n_in, n_out) weights from N(0, variance of `scheme`), drawn only from `rng`."""\n    ...',
    'def dead_relu_units(preacts, threshold=0.01):\n    """Boolean (n_units,): True where the fraction of samples with preact > 0 is below threshold."""\n    ...',
    'def prelu(x, alpha):\n    """where(x > 0, x, alpha * x) with a scalar alpha."""\n    ...\n\n\ndef prelu_backward(x, alpha, grad_out):\n    """(grad_x, grad_alpha) for upstream gradient grad_out; grad_alpha is a scalar."""\n    ...',
    'def layer_gradient_norms(weights, x, y, activation):\n    """Frobenius norms of d loss / d weights[l], from the input layer to the output layer."""\n    ...',
    '# Figure (not graded): per-layer gradient norms of a 10-layer network, sigmoid + Xavier vs ReLU + He.\nrng = np.random.default_rng(0)\ndepth, width, batch = 10, 64, 32\nx_demo, y_demo = rng.normal(size=(batch, width)), rng.normal(size=(batch, width))\nfig, ax = plt.subplots(figsize=(7, 4.5))\nfor activation, scheme in [("sigmoid", "xavier"), ("relu", "he")]:\n    try:\n        weights = [init_weights(width, width, scheme, rng) for _ in range(depth)]\n        if any(W is None for W in weights):\n            raise NotImplementedError("init_weights returned None")\n        norms = layer_gradient_norms(weights, x_demo, y_demo, activation)\n        if norms is None:\n            raise NotImplementedError("layer_gradient_norms returned None")\n        norms = np.asarray(norms, dtype=float)\n        if norms.shape != (depth,):\n            raise ValueError(f"expected {depth} norms, got shape {norms.shape}")\n    except Exception as exc:\n        print(f"{activation} + {scheme}: not plotted yet ({type(exc).__name__}: {exc})")\n        continue\n    ax.semilogy(np.arange(1, depth + 1), norms, "o-", label=f"{activation}, {scheme} initialisation")\n    print(f"{activation:>7} + {scheme:<6}: first-layer norm / last-layer norm = {norms[0] / norms[-1]:.2e}")\nax.set(xlabel="layer (1 = input side)", ylabel="Frobenius norm of d loss / d W", title="gradient norm per layer")\nif ax.lines:\n    ax.legend()\nplt.show()',
)
