"""Throughput and latency of grading, against `otter run`, in one run.

    python benchmarks/throughput.py [--n 200] [--otter-sample 8] [--otter-grade 4] [--scale 2000] [--skip-docker]
                                    [--skip-dask]

Generates a deterministic class (benchmarks/workload.py), then grades it with
``activation-grader grade`` in the process sandbox (with per-content seeds, the
default, and with a seed secret, whose pool of seeds lets answer keys be reused),
in the Docker sandbox and on a local Dask cluster (``--jobs`` = cores), and a
sample of it with ``otter run`` on the assignment's autograder zip (built into a
temporary directory if ``assignments/dist`` has none), one notebook after
another (as an instructor without Docker would), extrapolated per submission.
Prints submissions per second, the ratios against ``otter run`` (the named
baseline), where a notebook's CPU goes (the median of every result's
``provenance.cpu``, and the batch's writing), the latency of one notebook, peak
memory, and scaling rows: notebooks/s and the trusted process's peak memory at
``--n`` and, with ``--scale N``, at N notebooks, with the time of the class
report and of ``merge`` for that many results. With Docker (not ``--skip-docker``), it also grades
``--otter-grade`` notebooks with ``otter grade --containers 2`` and prints its time and its split per
notebook (benchmarks/otter_grade.py).
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
SECRET = "benchmark secret"  # an instructor's --seed-secret
SECRET_ENV = "ACTIVATION_GRADER_SEED_SECRET"


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, proc


def grade_cli(paths: Path, out: Path, *extra: str, secret: str | None = SECRET) -> float:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret:
        env[SECRET_ENV] = secret
    seconds, proc = timed([str(BIN / "activation-grader"), "grade", str(paths), "--out", str(out), "--regrade",
                           "--quiet", "--no-report", "--jobs", str(CORES), *extra], env=env)
    if proc.returncode != 0:
        raise SystemExit(f"grading failed:\n{proc.stderr[-2000:]}")
    return seconds


def scores(out: Path) -> dict[str, str]:
    import csv

    with open(out / "final_grades.csv", newline="") as f:
        return {r["file"]: r["total"] for r in csv.DictReader(f)}


def latency(paths: list[Path], sandbox: str = "process", secret: str | None = None) -> tuple[list[float], int]:
    """Per-notebook latency through a warm grader (the "check my work" path), and peak worker memory."""
    from grader.pipeline.grading import grade
    from grader.pipeline.tasks import Options
    from grader.pipeline.warm import close_workers, get_worker

    options = Options(sandbox=sandbox, seed_secret=secret)
    grade({"name": paths[0].name, "content": paths[0].read_bytes(), "options": options.to_dict()})  # warm up
    times = []
    for p in paths:
        start = time.perf_counter()
        grade({"name": p.name, "content": p.read_bytes(), "options": options.to_dict()})
        times.append(time.perf_counter() - start)
    peak = 0
    worker = get_worker(options)
    if sandbox == "process" and worker.proc is not None:
        peak = vm_hwm_kb(worker.proc.pid)
    close_workers()
    return times, peak


def vm_hwm_kb(pid: int) -> int:
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


def otter_zip(work: Path) -> Path | None:
    """The assignment's autograder zip; built into ``work`` when this checkout has none (a fresh clone)."""
    candidates = sorted(ROOT.glob("assignments/dist/autograder/*.zip"))
    if not candidates:
        proc = subprocess.run([sys.executable, str(ROOT / "assignments" / "build.py"), "--out", str(work / "dist"),
                               "--no-run-tests"], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"building the assignment failed:\n{proc.stderr[-1500:]}")
        candidates = sorted(work.glob("dist/autograder/*.zip"))
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
        # warm the workers (imports, zygotes) with another secret: the measured run's plans are not cached yet
        grade_cli(class_dir, out / "warm", "--executor", "dask", "--scheduler", str(sched), secret="warm-up")
        seconds = grade_cli(class_dir, out / "grades", "--executor", "dask", "--scheduler", str(sched))
        return ("Dask, 2 local one-thread workers (warm), --seed-secret", n / seconds, seconds)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def scale_row(class_dir: Path, out: Path, secret: str | None = SECRET) -> dict:
    """Grade ``class_dir`` the way the command does (benchmarks/scale_run.py), then time the class
    report and a ``merge`` of the results split into two shard directories."""
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret:
        env[SECRET_ENV] = secret
    wall, proc = timed([sys.executable, str(HERE / "scale_run.py"), str(class_dir), str(out / "grades"), str(CORES)],
                       env=env)
    if proc.returncode != 0:
        raise SystemExit(f"grading failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall"] = wall
    report_s, proc = timed([str(BIN / "activation-grader"), "report", str(out / "grades")])
    row["report"] = report_s if proc.returncode == 0 else float("nan")
    shards = [out / "shard-0", out / "shard-1"]
    for kind in ("results", "feedback"):
        for i, f in enumerate(sorted((out / "grades" / kind).iterdir())):
            target = shards[i % 2] / kind / f.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, target)
    merge_s, proc = timed([str(BIN / "activation-grader"), "merge", *map(str, shards), "--out", str(out / "merged"),
                           "--quiet"])
    row["merge"] = merge_s if proc.returncode == 0 else float("nan")
    if proc.returncode != 0:
        print(f"merge failed: {proc.stderr[-500:]}")
    return row


TRUSTED = [("read", "reading the notebook"), ("plans", "plans and answer keys"), ("send", "sending the job"),
           ("frames", "reading frames (JSON headers, raw arrays)"), ("decode", "decoding and validating results"),
           ("checks", "checks and scores")]
CHILD = [("isolation", "fork and isolation (incl. the zygote's share)"), ("cells", "the notebook's cells"),
         ("calls", "probe calls"), ("encode", "encoding and writing results")]


def cpu_split(out: Path) -> tuple[int, dict, dict]:
    """Medians per notebook of every graded result's ``provenance.cpu`` (ms)."""
    trusted: dict[str, list[float]] = {}
    child: dict[str, list[float]] = {}
    n = hits = 0
    for path in sorted((out / "results").glob("*.json")):
        cpu = json.loads(path.read_text())["extra_data"]["provenance"].get("cpu")
        if not cpu:
            continue
        n += 1
        hits += bool(cpu.get("plans_cached"))
        for side, into in (("trusted", trusted), ("child", child)):
            for k, v in (cpu.get(side) or {}).items():
                if isinstance(v, (int, float)):
                    into.setdefault(k, []).append(float(v))
        parts = cpu.get("trusted") or {}
        if isinstance(parts.get("total"), (int, float)):
            trusted.setdefault("other", []).append(parts["total"] - sum(float(parts.get(k) or 0) for k, _ in TRUSTED))
    med = lambda d: {k: statistics.median(v) for k, v in d.items()}  # noqa: E731
    means = {f"mean {k}": statistics.mean(v) for k, v in trusted.items() if k in ("plans", "total")}
    return n, {**med(trusted), **means, "hits": hits}, med(child)


def print_split(title: str, out: Path, write_ms: float | None) -> float | None:
    n, trusted, child = cpu_split(out)
    if not n:
        print(f"{title}: no CPU figures in the results")
        return None
    print(f"{title} (median ms per notebook over {n} graded notebooks; plans from the process's cache for "
          f"{trusted['hits']}, mean plans {trusted['mean plans']:.1f} ms, mean trusted {trusted['mean total']:.1f} ms):")
    total_t = trusted.get("total", 0.0) + (write_ms or 0.0)
    total_c = child.get("total", 0.0)
    print(f"  trusted side {total_t:6.1f} ms   (measured)")
    for key, label in TRUSTED:
        print(f"    {label:<48} {trusted.get(key, float('nan')):6.1f}")
    print(f"    {'other (building the record, provenance)':<48} {trusted.get('other', float('nan')):6.1f}")
    if write_ms is not None:
        print(f"    {'writing results JSON and feedback (batch)':<48} {write_ms:6.1f}")
    print(f"  child side   {total_c:6.1f} ms   (as the sandbox reports it: informational)")
    for key, label in CHILD:
        print(f"    {label:<48} {child.get(key, float('nan')):6.1f}")
    print(f"  together     {total_t + total_c:6.1f} ms of CPU per notebook "
          f"(budget for the 100x target: about 30 ms)")
    return total_t + total_c


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--otter-sample", type=int, default=8)
    ap.add_argument("--latency-sample", type=int, default=40)
    ap.add_argument("--scale", type=int, default=0, metavar="N",
                    help="also grade N generated notebooks (e.g. 2000) for the scaling rows [off]")
    ap.add_argument("--skip-docker", action="store_true")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--otter-grade", type=int, default=4, metavar="N",
                    help="notebooks for `otter grade --containers 2` and its split (0: skip) [4]")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ag-bench-"))
    subs = workload.make(work / "class", args.n)
    print(f"machine: {CORES} cores, {os.uname().machine}, Python {sys.version.split()[0]}; "
          f"workload: {args.n} notebooks in {work / 'class'}; at start: {load_average()}")
    rows = []

    t = grade_cli(work / "class", work / "process", secret=None)
    rows.append(("process sandbox, seeds from content (default)", args.n / t, t))
    scale = [(args.n, scale_row(work / "class", work / "scale-small"))]
    local = scale[0][1]
    rows.append(("process sandbox, --seed-secret (pool of 32 seeds)", args.n / local["wall"], local["wall"]))
    process_scores = scores(work / "scale-small" / "grades")

    docker_note = ""
    if not args.skip_docker:
        try:
            from grader.sandbox.docker import docker_client

            docker_client().images.get("activation-grader:latest")
            t = grade_cli(work / "class", work / "docker", "--sandbox", "docker")
            rows.append(("Docker sandbox, --seed-secret", args.n / t, t))
            same = scores(work / "docker") == process_scores
            docker_note = f"Docker scores identical to process sandbox: {same}"
        except Exception as exc:  # no engine or no image: say so, go on
            docker_note = f"Docker sandbox skipped: {exc}"

    if not args.skip_dask:
        try:
            rows.append(dask_row(work / "class", work / "dask", args.n))
        except Exception as exc:
            print(f"Dask row skipped: {type(exc).__name__}: {exc}")

    zip_path = otter_zip(work)
    otter_per = None
    if zip_path is None:
        print("otter run skipped: no autograder zip")
    else:
        sample = [p for p in subs if "broken" not in p.name][: args.otter_sample]
        times, otter_peak = otter_run(sample, without_plugin(zip_path, work), work / "otter")
        otter_per = statistics.mean(times)
        rows.append((f"otter run, Otter alone (baseline; sample of {len(sample)})", 1 / otter_per,
                     otter_per * args.n))
        times, _ = otter_run(sample, zip_path, work / "otter-plugin")
        plugin_per = statistics.mean(times)
        rows.append((f"otter run with this grader's plugin (sample of {len(sample)})", 1 / plugin_per,
                     plugin_per * args.n))

    lat, peak_kb = latency(subs[: args.latency_sample])
    lat_pool, _ = latency(subs[: args.latency_sample], secret=SECRET)
    lat_pool2, _ = latency(subs[: args.latency_sample] * 2, secret=SECRET)
    lat_pool2 = lat_pool2[args.latency_sample:]  # the same notebooks again: their plans are in memory
    cold = cold_cli(subs[0], work / "cold")

    if args.scale:
        big = workload.make(work / "class-big", args.scale, seed=1)
        scale.append((len(big), scale_row(work / "class-big", work / "scale-big")))

    print()
    print(f"{'runner':<62} {'subm/s':>8} {'wall s':>8} {'x otter run':>12}")
    for name, rate, seconds in rows:
        ratio = f"{rate * otter_per:>11.1f}x" if otter_per else f"{'n/a':>12}"
        print(f"{name:<62} {rate:>8.2f} {seconds:>8.1f} {ratio}")
    if docker_note:
        print(docker_note)
    print()
    write_ms = local["write_cpu"] / local["n"] * 1000
    print_split("CPU split, process sandbox, seeds from content", work / "process", write_ms)
    print_split("CPU split, process sandbox, --seed-secret", work / "scale-small" / "grades", write_ms)
    print()
    print(f"{'scaling (process sandbox, --seed-secret)':<42} {'subm/s':>8} {'trusted peak MiB':>17} "
          f"{'pool peak MiB':>14} {'report s':>9} {'merge s':>8}")
    for n, row in scale:
        print(f"{n:>6} notebooks{'':<29} {n / row['wall']:>8.2f} {row['main_peak_kb'] / 1024:>17.0f} "
              f"{row['pool_peak_kb'] / 1024:>14.0f} {row['report']:>9.2f} {row['merge']:>8.2f}")
    print()
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, p95 {pct(xs, 0.95) * 1000:.0f} ms"  # noqa: E731
    print(f"one notebook, warm grader, seeds from content: {ms(lat)} over {len(lat)} notebooks")
    print(f"one notebook, warm grader, --seed-secret, first time: {ms(lat_pool)}; "
          f"again (plans in memory): {ms(lat_pool2)}")
    print(f"one notebook, cold command line (`activation-grader grade one.ipynb`): {ms(cold)}")
    print(f"peak memory of a warm worker (zygote, VmHWM): {peak_kb / 1024:.0f} MiB"
          + (f"; of one `otter run`: {otter_peak / 1024:.0f} MiB" if otter_per else ""))
    print()
    targets = []
    if otter_per:
        best_process = max(r[1] for r in rows if r[0].startswith("process"))
        targets.append(("process sandbox >= 100x otter run", best_process * otter_per, 100, "x"))
        docker_rows = [r for r in rows if r[0].startswith("Docker")]
        if docker_rows:
            targets.append(("Docker sandbox >= 50x otter run", docker_rows[0][1] * otter_per, 50, "x"))
    dask_rows = [r for r in rows if "Dask" in r[0]]
    for name, got, want, unit in targets:
        verdict = "met" if got >= want else f"MISSED by {want / got:.2f}x"
        print(f"target {name}: {got:.1f}{unit}, {verdict}")
    if dask_rows:
        ratio = dask_rows[0][1] / (args.n / local["wall"])
        print(f"target Dask within 20% of the local pool: {ratio:.2f} of it, {'met' if ratio >= 0.8 else 'MISSED'}")
    for name, xs, want in (("one notebook <= 50 ms, warm grader (content seeds)", lat, 0.05),
                           ("one notebook <= 50 ms, warm grader (--seed-secret, plans in memory)", lat_pool2, 0.05),
                           ("one notebook <= 0.5 s, cold command line", cold, 0.5)):
        med = statistics.median(xs)
        print(f"target {name}: {med:.3f} s, {'met' if med <= want else f'MISSED by {med / want:.1f}x'}")
    if len(scale) > 1:
        (n0, r0), (n1, r1) = scale[0], scale[-1]
        rate0, rate1 = n0 / r0["wall"], n1 / r1["wall"]
        print(f"target throughput within 10% from {n0} to {n1}: {rate1 / rate0:.2f} of it, "
              f"{'met' if rate1 >= 0.9 * rate0 else 'MISSED'}; trusted peak memory {r0['main_peak_kb'] / 1024:.0f} "
              f"-> {r1['main_peak_kb'] / 1024:.0f} MiB, pool {r0['pool_peak_kb'] / 1024:.0f} -> "
              f"{r1['pool_peak_kb'] / 1024:.0f} MiB")
    if args.otter_grade and not args.skip_docker and not docker_note.startswith("Docker sandbox skipped"):
        print()
        import otter_grade

        try:
            otter_grade.report(otter_grade.run(args.otter_grade, containers=2))
        except (Exception, SystemExit) as exc:  # say so, keep the rest of the run
            print(f"otter grade skipped: {type(exc).__name__}: {str(exc)[-2000:]}")
    print(f"at the end: {load_average()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
