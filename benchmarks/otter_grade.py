"""Seconds per notebook: `otter grade` with the assignment's zip vs `activation-grader grade`.

    python benchmarks/otter_grade.py [--n 8] [--image activation-grader:latest] [--containers 1]

Builds the assignment into a temporary directory, writes N notebooks (the solution with zero or
one mistake, and blank ones), then grades them with `otter grade --image IMAGE --no-network`
(its image build included, as an instructor runs it; the image is removed afterwards) and with
`activation-grader grade`, and checks that both give the same scores. Where the docker CLI has no
buildx, tests/support/docker-buildx stands in for it (temporary DOCKER_CONFIG, this run only).
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MISTAKES = [None, ("np.exp(z - np.max(z, axis=axis, keepdims=True))", "np.exp(z)"),
            ("np.mean(preacts > 0, axis=0) < threshold", "np.mean(preacts > 0, axis=0) <= threshold"),
            ("return s * (1.0 - s)", "return s"), ("np.where(x > 0, x, alpha * x)", "np.maximum(x, 0)")]


def notebooks(dist: dict, n: int, out: Path) -> None:
    for i in range(n):
        blank = i % 4 == 3
        nb = json.loads((dist["student"] if blank else dist["solution"]).read_text())
        mistake = None if blank else MISTAKES[i % len(MISTAKES)]
        if mistake:
            for cell in nb["cells"]:
                cell["source"] = "".join(cell["source"]).replace(*mistake)
        nb["metadata"]["benchmark_copy"] = i  # distinct content, distinct seeds
        (out / f"nb{i:03d}.ipynb").write_text(json.dumps(nb))


def docker_env(tmp: Path) -> dict:
    env = dict(os.environ)
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        plugins = tmp / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        shutil.copy2(ROOT / "tests" / "support" / "docker-buildx", plugins / "docker-buildx")
        env["DOCKER_CONFIG"] = str(plugins.parent)
    return env


def scores(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as f:
        return {r["file"]: {q: float(r[q]) for q in (f"q{i}" for i in range(1, 11))} for r in csv.DictReader(f)
                if r["file"] != "points-per-question"}


def timed(cmd: list[str], **kwargs) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--image", default="activation-grader:latest")
    ap.add_argument("--containers", type=int, default=None, help="otter grade --containers (default: Otter's)")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("assignment_build", ROOT / "assignments" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    with tempfile.TemporaryDirectory(prefix="otter-grade-bench-") as tmp:
        tmp = Path(tmp)
        dist = build.build(tmp / "dist", run_tests=False)
        subs = tmp / "subs"
        subs.mkdir()
        notebooks(dist, args.n, subs)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        (tmp / "otter").mkdir()
        cmd = [str(BIN / "otter"), "grade", "-n", name, "-a", str(dist["autograder_zip"]), "--image", args.image,
               "--no-network", "-o", str(tmp / "otter"), str(subs)]
        if args.containers:
            cmd[2:2] = ["--containers", str(args.containers)]
        try:
            otter_s = timed(cmd, env=docker_env(tmp), cwd=tmp)
        finally:
            subprocess.run(["docker", "rmi", "-f", f"otter-grade:{name}"], capture_output=True)
        engine_s = timed([str(BIN / "activation-grader"), "grade", str(subs), "--out", str(tmp / "engine")])
        same = scores(tmp / "otter" / "final_grades.csv") == scores(tmp / "engine" / "final_grades.csv")
    print(f"{args.n} notebooks, load average {os.getloadavg()[0]:.1f}")
    print(f"otter grade --image {args.image}: {otter_s:6.1f} s  {otter_s / args.n:5.2f} s/notebook (image build included)")
    print(f"activation-grader grade:        {engine_s:6.1f} s  {engine_s / args.n:5.2f} s/notebook")
    print("same scores for every notebook" if same else "SCORES DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
