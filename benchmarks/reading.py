"""What reading a submission costs in the trusted process, before any sandbox deadline.

    python benchmarks/reading.py [--cells 100000 10000 180000] [--images-mb 40]

For notebooks of many tiny cells, and for a correct notebook carrying large
image outputs, prints the seconds ``grader.pipeline.notebook.load`` takes, the peak
memory it allocates beyond the file's bytes (traced by ``tracemalloc``; each
case in a fresh interpreter) and what it decided (refused with a status, or
the number of code cells read).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURE = r"""
import json, sys, time, tracemalloc
from grader.pipeline.notebook import SubmissionError, load
import nbformat, jupytext  # imported before measuring: not reading's cost
from IPython.core.inputtransformer2 import TransformerManager
content = open(sys.argv[1], "rb").read()


def run():
    try:
        return f"{len(load(sys.argv[1], content).cells)} code cells"
    except SubmissionError as exc:
        return f"{exc.status}: {exc.message[:60]}"


run()  # warm (the IPython transformer is built on first use)
started = time.perf_counter()
what = run()
seconds = time.perf_counter() - started
tracemalloc.start()  # a second run, traced: what reading allocates beyond the file's bytes
run()
peak = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({"seconds": seconds, "peak_mib": peak, "what": what}))
"""


def tiny_cells(n: int) -> bytes:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": f"x{i} = {i}"} for i in range(n)]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).encode()


def with_images(megabytes: int) -> bytes:
    solution = (ROOT / "tests" / "golden" / "solution.py").read_text()
    parts = [p.strip() for p in solution.split("# %%") if p.strip()]
    image = "iVBORw0KGgo" * (megabytes * 2**20 // 11 // len(parts))
    cells = [{"cell_type": "code", "execution_count": 1, "id": f"c{i}", "metadata": {}, "source": p,
              "outputs": [{"output_type": "display_data", "metadata": {},
                           "data": {"image/png": image, "text/plain": "<Figure>"}}]} for i, p in enumerate(parts)]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}).encode()


def magics(cells: int, per_cell: int) -> bytes:
    """``cells`` code cells of ``per_cell`` IPython magic lines each (IPython's own pass is quadratic)."""
    source = "%time x = 1\n" * per_cell
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
         "source": source} for i in range(cells)]}).encode()


def tiny_values(item: str, megabytes: int) -> bytes:
    """A one-cell notebook whose output is a list of ``item`` (``{}``, ``0.5`` ...) ``megabytes`` long."""
    payload = "[" + ",".join([item] * (megabytes * 2**20 // (len(item) + 1))) + "]"
    cell = {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "source": "x = 1",
            "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"application/json": "PAYLOAD"}}]}
    text = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]})
    return text.replace('"PAYLOAD"', payload).encode()


def measure(content: bytes, label: str) -> None:
    with tempfile.NamedTemporaryFile(suffix=".ipynb") as f:
        f.write(content)
        f.flush()
        out = subprocess.run([sys.executable, "-c", MEASURE, f.name], capture_output=True, text=True, check=True,
                             cwd=ROOT)
    r = json.loads(out.stdout)
    print(f"{label:<34} {len(content) / 2**20:7.1f} MiB  {r['seconds']:6.2f} s  {r['peak_mib']:6.0f} MiB  {r['what']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="*", default=[10_000, 100_000, 180_000])
    parser.add_argument("--images-mb", type=int, default=40)
    args = parser.parse_args()
    print(f"{'notebook':<34} {'size':>11}  {'load':>8}  {'memory':>10}  result")
    for n in args.cells:
        measure(tiny_cells(n), f"{n:,} tiny cells")
    measure(with_images(args.images_mb), f"solution + {args.images_mb} MB of images")
    measure(magics(1, 80_000), "one cell of 80,000 magics")
    measure(magics(10_000, 8), "10,000 cells of 8 magics")
    for item in ("{}", '"ab"', "0.5"):
        measure(tiny_values(item, args.images_mb), f"an output of {args.images_mb} MB of {item}")
    measure(tiny_values("0.5", 8), "an output of 8 MB of 0.5 (a plot)")


if __name__ == "__main__":
    main()
