"""Throughput and latency of grading, against `otter run`, in one run.

    python benchmarks/throughput.py [--n 200] [--otter-sample 8] [--skip-docker] [--skip-dask]

Generates a deterministic class (benchmarks/workload.py), then grades it with
``activation-grader grade`` in the process sandbox and in the Docker sandbox
(``--jobs`` = cores), and a sample of it with ``otter run`` on the assignment's
autograder zip, one notebook after another (as an instructor without Docker
would), extrapolated per submission. Prints submissions per second, the ratios
against ``otter run`` (the named baseline), the median and 95th-percentile
latency of one notebook, and the peak memory of a worker.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import workload  # noqa: E402

BIN = Path(sys.executable).parent
CORES = len(os.sched_getaffinity(0))


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def grade_cli(paths: Path, out: Path, *extra: str) -> float:
    seconds, proc = timed([str(BIN / "activation-grader"), "grade", str(paths), "--out", str(out), "--regrade",
                           "--quiet", "--no-report", "--jobs", str(CORES), *extra])
    if proc.returncode != 0:
        raise SystemExit(f"grading failed:\n{proc.stderr[-2000:]}")
    return seconds


def scores(out: Path) -> dict[str, str]:
    import csv

    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r["total"] for r in csv.DictReader(f)}


def latency(paths: list[Path], sandbox: str = "process") -> tuple[list[float], int]:
    """Per-notebook latency through a warm grader (the "check my work" path), and peak worker memory."""
    from grader.grading import Options, close_workers, get_worker, grade

    options = Options(sandbox=sandbox)
    grade({"name": paths[0].name, "content": paths[0].read_bytes(), "options": options.to_dict()})  # warm up
    times = []
    for p in paths:
        start = time.perf_counter()
        grade({"name": p.name, "content": p.read_bytes(), "options": options.to_dict()})
        times.append(time.perf_counter() - start)
    peak = 0
    worker = get_worker(options)
    if sandbox == "process" and worker.proc is not None:
        peak = _vm_hwm(worker.proc.pid)
    close_workers()
    return times, peak


def _vm_hwm(pid: int) -> int:
    """Peak resident memory (kB) of a process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cold_cli(path: Path, out: Path, repeat: int = 5) -> list[float]:
    times = []
    for _ in range(repeat):
        seconds, proc = timed([str(BIN / "activation-grader"), "grade", str(path), "--out", str(out), "--regrade",
                               "--quiet", "--no-report"])
        times.append(seconds)
    return times


def otter_zip() -> Path | None:
    candidates = sorted(ROOT.glob("assignments/dist/autograder/*.zip"))
    return candidates[0] if candidates else None


def without_plugin(zip_path: Path, work: Path) -> Path:
    """The same autograder zip with the re-grading plugin off: Otter's own in-kernel grading."""
    import zipfile

    out = work / "otter-alone.zip"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                config["plugins"] = []
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return out


def otter_run(paths: list[Path], zip_path: Path, work: Path) -> tuple[list[float], int]:
    times, peak = [], 0
    for p in paths:
        out = work / p.stem
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        proc = subprocess.Popen([str(BIN / "otter"), "run", "-a", str(zip_path), "-o", str(out), str(p)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        peak = max(peak, usage.ru_maxrss)
    return times, peak


def dask_row(class_dir: Path, out: Path, n: int) -> tuple[str, float, float]:
    """The same batch on a local Dask cluster (a scheduler and two one-thread workers on 127.0.0.1)."""
    import signal

    sched = out / "sched.json"
    out.mkdir(parents=True, exist_ok=True)
    dask = str(BIN / "dask")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not sched.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(sched), "--nworkers", "1",
                                           "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        time.sleep(5)
        grade_cli(class_dir, out / "warm", "--executor", "dask", "--scheduler", str(sched))  # warm the workers
        seconds = grade_cli(class_dir, out / "grades", "--executor", "dask", "--scheduler", str(sched))
        return ("activation-grader, Dask (2 local one-thread workers, warm)", n / seconds, seconds)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--otter-sample", type=int, default=8)
    ap.add_argument("--latency-sample", type=int, default=40)
    ap.add_argument("--skip-docker", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ag-bench-"))
    subs = workload.make(work / "class", args.n)
    print(f"machine: {CORES} cores, {os.uname().machine}, Python {sys.version.split()[0]}; "
          f"workload: {args.n} notebooks in {work / 'class'}")
    rows = []

    t = grade_cli(work / "class", work / "process")
    rows.append(("activation-grader, process sandbox", args.n / t, t))
    process_scores = scores(work / "process")

    docker_note = ""
    if not args.skip_docker:
        from grader.docker_sandbox import DockerUnavailable, docker_client

        try:
            docker_client().images.get("activation-grader:latest")
            t = grade_cli(work / "class", work / "docker", "--sandbox", "docker")
            rows.append(("activation-grader, Docker sandbox", args.n / t, t))
            same = scores(work / "docker") == process_scores
            docker_note = f"Docker scores identical to process sandbox: {same}"
        except Exception as exc:  # no engine or no image: say so, go on
            docker_note = f"Docker sandbox skipped: {exc}"

    if not args.skip_dask:
        try:
            rows.append(dask_row(work / "class", work / "dask", args.n))
        except Exception as exc:
            print(f"Dask row skipped: {type(exc).__name__}: {exc}")

    zip_path = otter_zip()
    otter_per = None
    if zip_path is None:
        print("otter run skipped: no autograder zip (build the assignment first: see README)")
    else:
        sample = [p for p in subs if "broken" not in p.name][: args.otter_sample]
        times, otter_peak = otter_run(sample, without_plugin(zip_path, work), work / "otter")
        otter_per = statistics.mean(times)
        rows.append((f"otter run, Otter alone (baseline; sample of {len(sample)}, extrapolated)", 1 / otter_per,
                     otter_per * args.n))
        times, _ = otter_run(sample, zip_path, work / "otter-plugin")
        plugin_per = statistics.mean(times)
        rows.append((f"otter run with this grader's plugin (sample of {len(sample)})", 1 / plugin_per,
                     plugin_per * args.n))

    lat, peak_kb = latency(subs[: args.latency_sample])
    cold = cold_cli(subs[0], work / "cold")

    print()
    print(f"{'runner':<58} {'subm/s':>8} {'wall s':>8} {'x otter run':>12}")
    for name, rate, seconds in rows:
        ratio = f"{rate * otter_per:>11.1f}x" if otter_per else f"{'n/a':>12}"
        print(f"{name:<58} {rate:>8.2f} {seconds:>8.1f} {ratio}")
    if docker_note:
        print(docker_note)
    print()
    print(f"one notebook, warm grader (check-my-work path): median {statistics.median(lat) * 1000:.0f} ms, "
          f"p95 {pct(lat, 0.95) * 1000:.0f} ms over {len(lat)} notebooks")
    print(f"one notebook, cold command line (`activation-grader grade one.ipynb`): median "
          f"{statistics.median(cold) * 1000:.0f} ms, p95 {pct(cold, 0.95) * 1000:.0f} ms")
    print(f"peak memory of a warm worker (zygote, VmHWM): {peak_kb / 1024:.0f} MiB"
          + (f"; of one `otter run`: {otter_peak / 1024:.0f} MiB" if otter_per else ""))
    targets = []
    if otter_per:
        proc_rate = rows[0][1]
        targets.append(("process sandbox >= 50x otter run", proc_rate * otter_per, 50))
        docker_rows = [r for r in rows if "Docker" in r[0]]
        if docker_rows:
            targets.append(("Docker sandbox >= 10x otter run", docker_rows[0][1] * otter_per, 10))
    print()
    for name, got, want in targets:
        verdict = "met" if got >= want else f"MISSED by {want / got:.2f}x"
        print(f"target {name}: {got:.1f}x, {verdict}")
    med = statistics.median(lat)
    print(f"target one notebook <= 0.5 s (warm): {med:.3f} s, {'met' if med <= 0.5 else 'MISSED'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
