"""What an executor costs per task, apart from grading: the benchmark of the executors' seam.

    python benchmarks/dispatch.py [--n 200] [--payload-bytes 50000] [--scheduler ADDRESS]

Runs ``--n`` no-op tasks through the local pool (``grader.pipeline.executors.LocalExecutor``) or, with
``--scheduler``, a Dask cluster, and prints the seconds per task (:func:`dispatch_overhead`). Subtract
it from the per-submission time of a real run to see what grading costs.
"""
from __future__ import annotations

import argparse
import json
import operator
import sys
import time


#: A stand-in for a grading task: no work, a record-sized answer (the payload's first 4,000 bytes). A
#: function of the standard library, so that every executor's processes have it: Dask's workers
#: could not import a function of this file, which is not installed.
_echo_task = operator.itemgetter(slice(0, 4000))


def dispatch_overhead(executor, n: int = 200, payload_bytes: int = 50_000) -> dict:
    """Seconds per task spent by ``executor`` on moving a submission-sized task and its record.

    Runs ``n`` no-op tasks, each carrying ``payload_bytes`` (all different) and answering with a
    record-sized dict, through ``submit`` and ``grader.pipeline.executors.as_completed``, as
    ``grader.pipeline.batch.run`` does, after one warm-up task.
    """
    from grader.pipeline.executors import as_completed

    def payload(i: int) -> bytes:
        return (b"# %d\n" % i).ljust(payload_bytes, b"#")

    executor.submit(_echo_task, payload(-1)).result()
    started = time.perf_counter()
    futures = {executor.submit(_echo_task, payload(i)): i for i in range(n)}
    for future in as_completed(futures):
        futures.pop(future)
        future.result()
    seconds = time.perf_counter() - started
    return {"tasks": n, "payload_bytes": payload_bytes, "seconds": round(seconds, 4),
            "per_task_ms": round(1000 * seconds / max(n, 1), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--payload-bytes", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=2, help="processes of the local pool")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler's address or file")
    args = parser.parse_args(argv)
    from grader.pipeline.executors import LocalExecutor, dask_executor

    executor = dask_executor(args.scheduler) if args.scheduler else LocalExecutor(args.jobs)
    try:
        print(json.dumps(dispatch_overhead(executor, args.n, args.payload_bytes)))
    finally:
        executor.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
