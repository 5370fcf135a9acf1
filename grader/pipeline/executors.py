"""Executors: where grading tasks run. The seam for every backend.

Anything with ``submit(fn, *args) -> future`` and ``shutdown()`` whose futures
work with :func:`as_completed` will do. The local pool needs nothing
installed; ``dask_executor`` sends the same tasks to a Dask cluster.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading

from grader.core.errors import GraderError
from grader.pipeline.tasks import grader_version
from grader.pipeline.warm import close_workers


def _init_worker() -> None:
    """Every pool process keeps its own warm sandbox worker, closed when the process ends.

    Pool processes leave through multiprocessing's own exit path, which runs
    its finalizers but not ``atexit``: without this, containers would outlive
    the batch. Ctrl-C reaches the whole process group: a pool process ignores it
    (the batch decides, see :meth:`LocalExecutor.stop`), and SIGTERM (the batch
    stopping it, or the pool ending its processes once one was lost) closes its
    sandbox and ends it at once: nothing is sent back, so nothing waits for it.
    """
    from multiprocessing.util import Finalize

    Finalize(None, close_workers, exitpriority=10)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum, frame) -> None:
    try:
        close_workers()
    finally:
        os._exit(128 + signum)


class LocalExecutor(cf.ProcessPoolExecutor):
    """A process pool: trusted grading runs in parallel, free of the GIL.

    Processes come from a fork server that has imported the grader once, so a
    pool starts quickly and nothing of the parent's threads is inherited.
    """

    def __init__(self, jobs: int) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["grader.pipeline.grading", "grader.rubric.exercises", "reference.keys"])
        super().__init__(max_workers=jobs, mp_context=ctx, initializer=_init_worker)

    def stop(self, grace: float = 15.0) -> None:
        """Stop now (the run was interrupted): drop the tasks not started, end the running ones (SIGTERM:
        each pool process closes its sandbox on the way out), and wait for them, at most ``grace`` seconds
        before they are killed. Only this pool's own processes are signalled."""
        processes = list((self._processes or {}).values())
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join()
        self.shutdown(wait=True)


def as_completed(futures):
    """Futures as they finish, for local and Dask futures alike."""
    futures = list(futures)
    if futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(futures, loop=futures[0].client.loop)
    return cf.as_completed(futures)


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


class InlineExecutor(cf.Executor):
    """Runs each task in this process when it is submitted: for one notebook, no pool to start."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except (KeyboardInterrupt, SystemExit):  # an interruption is the run's, not this task's
            raise
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        close_workers()


# -- Dask --------------------------------------------------------------------------------------------
CONNECT_TIMEOUT = 10.0

_HOW_TO_START = (
    "Start a scheduler with `dask scheduler` (it prints its address, or writes it with --scheduler-file "
    "PATH) and workers on each host with `dask worker ADDRESS --nworkers K --nthreads 1`, then pass "
    "--scheduler tcp://HOST:8786 or --scheduler PATH/TO/scheduler.json, or set DASK_SCHEDULER_ADDRESS."
)


class DaskExecutorError(GraderError):
    """The Dask cluster cannot be used; ``message`` says why and how to fix it."""


def dask_executor(scheduler: str | None = None, *, timeout: float = CONNECT_TIMEOUT) -> DaskExecutor:
    """Connect to a running Dask scheduler and return an executor for :func:`grader.pipeline.batch.run`.

    ``scheduler`` is an address (``tcp://host:8786``, ``host:8786``), the path of a scheduler file
    written by ``dask scheduler --scheduler-file``, or None for ``DASK_SCHEDULER_ADDRESS``. An
    unreachable scheduler raises :class:`DaskExecutorError` within ``timeout`` seconds.
    """
    try:
        import distributed
    except ImportError:
        raise DaskExecutorError("--executor dask needs Dask's distributed scheduler: "
                                "pip install 'activation-grader[dask]'.") from None
    target = _scheduler_target(scheduler)
    address = target.get("address") or _address_from_file(target["scheduler_file"])
    _probe(address, timeout)
    try:
        client = distributed.Client(**target, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        _discard_half_open_client(exc)
        raise DaskExecutorError(f"could not connect to the Dask scheduler at {address} within {timeout:g} s "
                                f"({exc}). {_HOW_TO_START}") from None
    except Exception as exc:  # something answered, but not the Dask protocol: e.g. the dashboard's port
        _discard_half_open_client(exc)
        raise DaskExecutorError(f"{address} answered, but not as a Dask scheduler ({type(exc).__name__}). "
                                f"Check the port: a scheduler listens on 8786 by default, its dashboard on "
                                f"8787. {_HOW_TO_START}") from None
    try:
        _check_workers(client)
    except BaseException:
        client.close()
        raise
    return DaskExecutor(client)


class DaskExecutor:
    """Grading tasks on a Dask cluster, one task per submission.

    A task submitted with a key (:meth:`submit_keyed`; ``grader.pipeline.batch`` keys each grading task by
    :func:`grader.pipeline.tasks.grading_key`) is computed once however often it is submitted, by this run or
    by a concurrent one; every task is retried twice if it raises, and the scheduler reruns it
    elsewhere if its worker dies. A task that needs the resource ``sandbox`` (``--sandbox docker``)
    runs only on workers that offer it. Nothing here keeps a future:
    a result is released on the cluster as soon as the caller drops its future.
    """

    RETRIES = 2

    def __init__(self, client, *, own_client: bool = True) -> None:
        self.client = client
        self._own_client = own_client
        self._resources_checked = False

    def submit(self, fn, /, *args, **kwargs):
        return self.client.submit(_run_on_worker, fn, *args, **kwargs, pure=False, retries=self.RETRIES)

    def submit_keyed(self, key: str, fn, /, *args, resources: dict | None = None, **kwargs):
        """``submit`` under the caller's deterministic ``key``, on workers that offer ``resources``."""
        if resources and "sandbox" in resources:
            self._check_sandbox_resource()
        return self.client.submit(_run_on_worker, fn, *args, **kwargs, key=key, pure=False,
                                  retries=self.RETRIES, resources=resources)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def _check_sandbox_resource(self) -> None:
        if self._resources_checked:
            return
        self._resources_checked = True
        workers = _scheduler_workers(self.client)
        if workers and not any(w.get("resources", {}).get("sandbox") for w in workers.values()):
            raise DaskExecutorError("--sandbox docker on Dask runs only on workers that offer the resource "
                                    "'sandbox', and none does: start the workers on hosts with Docker as "
                                    "`dask worker ADDRESS --nworkers K --nthreads 1 --resources sandbox=1`.")


# runs on the worker ---------------------------------------------------------------------------------
_worker_lock = threading.Lock()
_worker_finalizer = False


def _run_on_worker(fn, /, *args, **kwargs):
    """One task at a time per worker process: it has one warm sandbox (see ``grader.pipeline.warm.get_worker``).

    The sandbox is closed when the worker process ends, as in :func:`_init_worker` (a Dask
    worker under a nanny is a multiprocessing child too).
    """
    global _worker_finalizer
    with _worker_lock:
        if not _worker_finalizer:
            from multiprocessing.util import Finalize

            Finalize(None, close_workers, exitpriority=10)
            _worker_finalizer = True
        return fn(*args, **kwargs)


def _worker_info() -> dict:
    return {"grader_version": grader_version()}


# connecting -----------------------------------------------------------------------------------------
def _scheduler_target(scheduler: str | None) -> dict:
    import re

    if scheduler is None or not str(scheduler).strip():
        scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not scheduler:
            try:
                import dask

                scheduler = dask.config.get("scheduler-address", None)
            except ImportError:  # pragma: no cover
                scheduler = None
        if not scheduler:
            raise DaskExecutorError(f"--executor dask needs a scheduler and none was given. {_HOW_TO_START}")
    scheduler = str(scheduler).strip()
    if "://" in scheduler:
        return {"address": scheduler}
    if os.path.isfile(scheduler):
        return {"scheduler_file": scheduler}
    if re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[\w.-]+):\d+", scheduler):
        return {"address": scheduler}
    raise DaskExecutorError(f"{scheduler!r} is neither a scheduler address (tcp://HOST:PORT) nor an existing "
                            f"scheduler file. {_HOW_TO_START}")


def _address_from_file(path: str) -> str:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["address"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DaskExecutorError(f"{path} is not a Dask scheduler file ({type(exc).__name__}: {exc}); it is "
                                f"written by `dask scheduler --scheduler-file {path}`.") from None


def _probe(address: str, timeout: float) -> None:
    """Fail at once on a refused connection, and in ``timeout`` on a port that never answers.

    ``distributed.Client`` retries a refused connection until its timeout, and then waits for the
    scheduler's handshake with no time limit at all: a port that accepts connections and stays
    silent would hang the run.
    """
    import asyncio
    import socket

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.security import Security

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise DaskExecutorError(f"{address!r} is not a scheduler address ({exc}). {_HOW_TO_START}") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        raise DaskExecutorError(f"cannot reach the Dask scheduler at {address} ({why}). "
                                f"Is it running, and is the address right? {_HOW_TO_START}") from None

    async def handshake() -> None:
        args = Security().get_connection_args("client")
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout)
        await comm.close()

    try:
        asyncio.run(handshake())
    except (asyncio.TimeoutError, TimeoutError):
        why = f"no answer within {timeout:g} s"
    except Exception as exc:
        why = f"{type(exc).__name__}"
    else:
        return
    raise DaskExecutorError(f"{address} accepts connections but does not answer as a Dask scheduler ({why}). "
                            f"Check the port: a scheduler listens on 8786 by default, its dashboard on 8787. "
                            f"{_HOW_TO_START}")


def _discard_half_open_client(exc: BaseException) -> None:
    """A Client whose constructor failed would try (and fail, noisily) to close itself when collected."""
    import contextlib

    from distributed import Client

    tb = exc.__traceback__
    while tb is not None:
        half = tb.tb_frame.f_locals.get("self")
        if isinstance(half, Client):
            with contextlib.suppress(Exception):
                half.status = "closed"
                half._loop_runner.stop()
            return
        tb = tb.tb_next


def _scheduler_workers(client) -> dict:
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed
        info = client.scheduler_info()
    return info.get("workers", {})


def _check_workers(client) -> None:
    """Workers must run this grader; warn about what would make the run slow or wait."""
    import logging

    log = logging.getLogger("grader.pipeline.executors")
    workers = _scheduler_workers(client)
    if not workers:
        log.warning("the Dask scheduler has no workers yet: grading starts when workers join.")
        return
    try:
        infos = client.run(_worker_info)
    except Exception as exc:
        raise DaskExecutorError(f"the Dask workers cannot run the grader ({type(exc).__name__}: {exc}): "
                                f"install activation-grader (the same version as here) on every worker.") from None
    mine = grader_version()
    other = sorted({info["grader_version"] for info in infos.values()} - {mine})
    if other:
        raise DaskExecutorError(f"the Dask workers run grader version(s) {', '.join(other)}, this client "
                                f"{mine}: results would not match the keys of this run. Install the same "
                                f"version on the workers and restart them.")
    crowded = sorted(addr for addr, w in workers.items() if w.get("nthreads", 1) > 1)
    if crowded:
        log.warning("%d Dask worker(s) have more than one thread; each worker process grades one "
                    "submission at a time, so start workers with --nworkers K --nthreads 1.", len(crowded))
