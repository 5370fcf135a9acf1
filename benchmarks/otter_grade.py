"""Seconds per notebook of `otter grade` with the assignment's zip, where they go, and `activation-grader grade`.

    python benchmarks/otter_grade.py [--n 4] [--image activation-grader:latest] [--containers 2]

Builds the assignment into a temporary directory, writes N notebooks (the solution with zero or
one mistake, and blank ones), then grades them with `otter grade --image IMAGE --no-network -vv`
(its image build included, as an instructor runs it; the image is removed afterwards) and with
`activation-grader grade`, and checks that both give the same scores. `make bench` runs it with
its defaults (benchmarks/throughput.py).

The split per notebook, one container's time (the containers run side by side):
  - container: Otter's docker calls around a submission (create, copy in, start, wait, logs, copy
    out, remove), measured on the same image with a command that does nothing;
  - python start: the interpreter and run_otter.py's imports, and launching the sandbox worker;
  - Otter import: `otter.run.run_autograder` (pandas, nbconvert, ...);
  - plugin grading: this grader's plugin grading the notebook (its worker started during the import);
  - Otter's steps: the rest of Otter's run (config, plugins loaded, files copied, results written),
    with its kernel run (skipped where the plugin replaces its results: grader.interfaces.otter_gradescope);
from the `activation-grader-timings` line each grading container prints (otter grade -vv shows
its log). The image build, setup.sh included, happens once per run and is shown apart. Where the
docker CLI has no buildx, `activation-grader docker install-buildx-shim` installs the stand-in into
a temporary DOCKER_CONFIG (this run only).
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MARK = "activation-grader-timings "
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
    """The environment of the run: the project's buildx stand-in where the CLI has none, in a
    temporary DOCKER_CONFIG (the documented command, docs/otter.md)."""
    env = {**os.environ, "DOCKER_CONFIG": str(tmp / "docker-config")}
    subprocess.run([str(BIN / "activation-grader"), "docker", "install-buildx-shim"], env=env, check=True,
                   capture_output=True)
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


def otter_grade(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float | None, list[dict]]:
    """Wall seconds of `otter grade -vv`, seconds until its image was built, and the containers' timings."""
    start = time.perf_counter()
    built, timings, tail = None, [], []
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if built is None and "Notebooks to grade" in line:
            built = time.perf_counter() - start
        if MARK in line:
            timings.append(json.loads(line.split(MARK, 1)[1]))
        tail = (tail + [line])[-60:]
    if proc.wait() != 0:
        raise SystemExit("otter grade failed:\n" + "".join(tail))
    return time.perf_counter() - start, built, timings


def container_overhead(image: str, rounds: int = 3) -> float:
    """Seconds of Otter's docker calls around one submission (python_on_whales, as Otter makes them)."""
    from python_on_whales import docker

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        sub, res = Path(tmp) / "nb.ipynb", Path(tmp) / "results.pkl"
        sub.write_text("{}")
        res.write_bytes(b"")
        for _ in range(rounds):
            start = time.perf_counter()
            container = docker.container.create(image, command=["true"], networks=["none"])
            try:
                docker.container.copy(str(sub), (container, "/tmp/nb.ipynb"))
                docker.container.copy(str(res), (container, "/tmp/results.pkl"))
                docker.container.start(container)
                docker.container.wait(container)
                docker.container.logs(container)
                docker.container.copy((container, "/tmp/nb.ipynb"), str(sub))
                docker.container.copy((container, "/tmp/results.pkl"), str(res))
            finally:
                container.remove()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def split(timings: list[dict], container: float) -> list[tuple[str, float]]:
    """The median of each step over the grading containers (see the module docstring)."""
    def med(key: str) -> float:
        return statistics.median(t.get(key, 0.0) for t in timings)

    plugin, otter, execution = med("plugin"), med("otter"), med("otter_execution")
    rows = [("container (Otter's docker calls)", container),
            ("python start, run_otter.py, worker launch", med("start") + med("prestart")),
            ("Otter import (otter.run.run_autograder)", med("otter_import")),
            ("plugin grading (this grader)", plugin),
            ("Otter's kernel run (skipped with the plugin)", execution),
            ("Otter's other steps", max(otter - plugin - execution, 0.0)),
            ("(CPU of the grading process)", med("cpu")),
            ("(CPU of the whole container: grading process, worker, jobs)", med("container_cpu"))]
    return rows


def run(n: int = 4, image: str = "activation-grader:latest", containers: int | None = 2) -> dict:
    """Grade N notebooks both ways; the figures as a dict (printed by :func:`report`)."""
    spec = importlib.util.spec_from_file_location("assignment_build", ROOT / "assignments" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    with tempfile.TemporaryDirectory(prefix="otter-grade-bench-") as tmp:
        tmp = Path(tmp)
        dist = build.build(tmp / "dist", run_tests=False)
        subs = tmp / "subs"
        subs.mkdir()
        notebooks(dist, n, subs)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        (tmp / "otter").mkdir()
        cmd = [str(BIN / "otter"), "grade", "-vv", "-n", name, "-a", str(dist["autograder_zip"]), "--image", image,
               "--no-network", "-o", str(tmp / "otter"), str(subs)]
        if containers:
            cmd[2:2] = ["--containers", str(containers)]
        try:
            otter_s, built_s, timings = otter_grade(cmd, docker_env(tmp), tmp)
            container = container_overhead(f"otter-grade:{name}")
        finally:
            subprocess.run(["docker", "rmi", "-f", f"otter-grade:{name}"], capture_output=True)
        engine_s = timed([str(BIN / "activation-grader"), "grade", str(subs), "--out", str(tmp / "engine"), "-q"])
        same = scores(tmp / "otter" / "final_grades.csv") == scores(tmp / "engine" / "final_grades.csv")
    return {"n": n, "image": image, "containers": containers or 4, "otter_s": otter_s, "build_s": built_s,
            "engine_s": engine_s, "same": same, "split": split(timings, container) if timings else [],
            "timed_containers": len(timings)}


def report(fig: dict) -> None:
    n = fig["n"]
    grading = fig["otter_s"] - (fig["build_s"] or 0.0)
    print(f"otter grade, {n} notebooks, --containers {fig['containers']}, --image {fig['image']} --no-network "
          f"(load average {os.getloadavg()[0]:.1f}):")
    print(f"  {fig['otter_s']:6.1f} s in all, {fig['otter_s'] / n:5.2f} s a notebook with the image build; "
          f"grading alone {grading:5.1f} s, {grading / n:5.2f} s a notebook")
    if fig["build_s"] is not None:
        print(f"  image build (once, setup.sh included): {fig['build_s']:5.1f} s")
    if fig["split"]:
        total = sum(s for what, s in fig["split"] if not what.startswith("("))
        print(f"  one container, per notebook (median of {fig['timed_containers']}): {total:5.2f} s")
        for what, seconds in fig["split"]:
            print(f"    {what:<48} {seconds:5.2f} s")
    print(f"activation-grader grade: {fig['engine_s']:6.1f} s, {fig['engine_s'] / n:5.2f} s a notebook")
    print("same scores for every notebook" if fig["same"] else "SCORES DIFFER")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--image", default="activation-grader:latest")
    ap.add_argument("--containers", type=int, default=2, help="otter grade --containers (0: Otter's default, 4)")
    args = ap.parse_args()
    fig = run(args.n, args.image, args.containers)
    report(fig)
    return 0 if fig["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
