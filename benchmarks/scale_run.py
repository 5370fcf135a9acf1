"""One batch, as `activation-grader grade DIR --out OUT --regrade --no-report` runs it, reporting its own costs.

    python benchmarks/scale_run.py DIR OUT JOBS      (the seed secret from ACTIVATION_GRADER_SEED_SECRET)

Prints one JSON object: seconds of the batch, the trusted processes' peak memory (this process, which
hands out the tasks and writes every result, keeping one small entry per submission, by
``resource.getrusage``; each pool process, which builds answer keys and runs the checks, by its VmHWM
just before the pool ends), and this process's CPU for writing the results. Started by
benchmarks/throughput.py for its scaling rows (which then time ``report`` and ``merge`` on the results).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from throughput import vm_hwm_kb  # this script's folder is on sys.path when it runs


def main() -> None:
    directory, out, jobs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    from grader.pipeline import batch
    from grader.pipeline.executors import LocalExecutor
    from grader.pipeline.tasks import Options

    options = Options(seed_secret=os.environ.get("ACTIVATION_GRADER_SEED_SECRET") or None)
    executor = LocalExecutor(jobs)
    started = time.perf_counter()
    pool_peaks: list[int] = []
    try:
        result = batch.run([directory], out, options, jobs=jobs, executor=executor, regrade=True, progress=False)
        seconds = time.perf_counter() - started
        pool_peaks = [vm_hwm_kb(pid) for pid in list(getattr(executor, "_processes", {}) or {})]
    finally:
        executor.shutdown()
    print(json.dumps({"n": len(result.records), "seconds": seconds,
                      "main_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "pool_peak_kb": max(pool_peaks, default=0), "write_cpu": result.write_cpu}))


if __name__ == "__main__":
    main()
